"""Energy per inference from a run: ``inputs`` (files → typed inputs), ``routing`` (where spikes go),
``price`` (the cost models applied), ``result`` (what pricing returns), ``report`` (tables, JSON, CSV),
``plot`` (the PNG)."""
