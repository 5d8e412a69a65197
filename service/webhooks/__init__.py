"""Webhooks: signed inbound triggers, outbound notifications, egress guard and delivery logs."""
