"""The evidential recorder: a worker process that records statements from LiveKit rooms.

One process (``evr recorder``, :func:`recorder.process.run_recorder`) runs a
:class:`recorder.claim.RecorderWorker`. It claims ``recordings`` rows (several recorder
hosts share the work), keeps each claim alive with a heartbeat, and for each job runs a
:class:`recorder.statement.StatementJob`:

1. recover - segments a crashed recorder left open are hashed now (marked "recovery", not
   "capture") and checked to decode; the interval until this run starts is recorded as a gap;
2. start - joins the room as the hidden ``evr-recorder`` and subscribes to every
   participant's audio (48 kHz) and video;
3. record - media flows through one writer thread into
   :class:`evidence.writer.StatementWriter`; each segment is registered in the database
   before its file exists, and its capture hash once it is closed;
4. seal - on stop (or when the visit ends): signed manifest, Masters copied read-only into
   the evidence store, custody ``created`` and ``sealed``.

Failures are loud, within a heartbeat: ``evr_recordings_failed_total{reason}`` (a
recorder-owned registry served on its own ``/metrics`` port), a JSON log line, and a
``problem`` on the job that the visit shows as "not secured".

Modules: ``process`` (wiring, ``/metrics``), ``claim`` (the claim loop), ``statement`` (one
job's lifecycle), ``room`` and ``media`` (the room and its tracks), ``writer_thread``,
``recovery``, ``sealing``, ``job_store`` (all the SQL), ``metrics``, ``states`` (the
vocabulary stored in the database).
"""
