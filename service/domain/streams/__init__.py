"""Value streams from a classified board: ordered steps, lanes, times, problems, ideas, persona.

Placement rules (the facilitator-facing table lives in docs/streams.md):

* **Streams.** A container titled as a current or target state (``Ist-Zustand: Abo``, ``Soll``,
  ``Current state``...) is a stream with that state, even when empty. An item belongs to the
  innermost such container of its chain; an item in no state container belongs to the outermost
  other (non-legend) container holding it, which is an ``unspecified`` stream when it holds at
  least one step. Steps outside every container form one ``unspecified`` stream named after the
  board.
* **Order.** Connectors between two steps of a stream give the flow; cycles are broken by dropping
  the back edges of a depth-first search in left-to-right order; longest-path layering numbers
  the steps, so parallel branches share an order number. Steps joined by connectors form
  connected groups; steps without any connector are grouped into columns (x-extents overlapping
  by at least half the narrower step). Groups and columns follow one another left to right by
  their left-most step, each continuing the numbering where the previous one stopped.
* **Lanes.** Text items and shapes without a role, left of the stream's left-most step and
  vertically inside the stream (not above its top-most step: that is a heading), name lanes
  top to bottom; each lane's band runs to the midpoints
  between neighbouring labels; a step is in the lane whose band holds its centre.
* **Data.** A data sticky belongs to the step connected to it, else to the nearest step above it
  (same stream) whose x-extent holds its centre, at most ``DATA_REACH`` typical sizes higher.
  Data sticky times beat times written on the step itself.
* **Problems and ideas.** Connected to a step: that step. Else the nearest step of the same stream
  within ``ruleset.attach_distance`` typical sizes (centre distance); else the stream itself.
  Outside every stream: the nearest step of any stream within that distance, else unplaced.
* **Votes.** Each vote dot counts once, for the problem under its centre (the nearest centre when
  problems overlap); text marks (``(3)``, ``●●●``) add to that.
* **Persona.** Personas inside a stream name it; personas outside every stream name all streams.

The package by job: ``titles`` (state words, display text, stable ids), ``spatial`` (the grid
index every look-up goes through), ``flow`` (step order from connectors), ``placement`` (stream,
step and lane of each item), ``assembly`` (``build_streams``, ``unplaced``) and ``model`` (the
values built).
"""

from __future__ import annotations

from service.domain.streams.assembly import build_streams, unplaced
from service.domain.streams.flow import STACK_OVERLAP, flow_order
from service.domain.streams.model import STEP_ROLES, Idea, Problem, Step, Stream
from service.domain.streams.placement import DATA_REACH, Key
from service.domain.streams.titles import first_line, stable_id, title_state, title_subject

__all__ = [
    "DATA_REACH",
    "STACK_OVERLAP",
    "STEP_ROLES",
    "Idea",
    "Key",
    "Problem",
    "Step",
    "Stream",
    "build_streams",
    "first_line",
    "flow_order",
    "stable_id",
    "title_state",
    "title_subject",
    "unplaced",
]
