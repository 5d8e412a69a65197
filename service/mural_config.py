"""Settings of the live Mural connector (``VSM_MURAL__*``), a group of ``service.settings``."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from connectors.mural.client import DEFAULT_API_URL

DEFAULT_AUTH_URL = "https://app.mural.co/api/public/v1/authorization/oauth2/"


class MuralSettings(BaseModel):
    """The Mural OAuth app and polling; empty ``client_id`` = Mural disabled.

    Token and refresh endpoints are Mural's ``{auth_url}token`` and ``{auth_url}refresh``.
    """

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    redirect_uri: str = "http://127.0.0.1:8000/v1/oauth/mural/callback"
    api_url: str = DEFAULT_API_URL
    auth_url: str = DEFAULT_AUTH_URL
    poll_interval_s: float = Field(
        default=300.0, ge=1.0, description="Seconds between updatedOn checks of one mural."
    )
    poll_jitter: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Each interval is stretched by up to +-this."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret.get_secret_value())
