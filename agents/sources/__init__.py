"""Sources: live readings from machines over OPC UA, MQTT (JSON, Sparkplug B) and Modbus TCP.

One module per protocol behind one small interface (``base.Source``: tag samples with value,
unit, quality and source time); ``assembler`` turns samples into the agents' readings, ``buffer``
keeps them on disk until the agents have them, ``hub`` runs it all, ``config`` types the plant
file's ``[[sources]]``. Protocol libraries are imported only by the module that speaks them.
"""

from __future__ import annotations

from agents.sources.base import Quality, Source, TagSample

__all__ = ["Quality", "Source", "TagSample"]
