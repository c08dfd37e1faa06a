"""Experiment files: the research plan's groups as files the orchestrator prepares, trains, evaluates and reports.

:mod:`.spec` (the file), :mod:`.machine` (where corpora and weights live), :mod:`.configs` (each model's training
config at a scale), :mod:`.plan` (units of work and their state on disk), :mod:`.estimate` (time estimates),
:mod:`.runner` (running the pending units), :mod:`.results` and :mod:`.report` (the group's report),
:mod:`.status` (the per-ID status rows).
"""
