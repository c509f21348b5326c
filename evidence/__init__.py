"""Evidential recording core: composition, hashing, sealing, custody and verification.

Everything here is independent of the SFU: a recorder participant feeds decoded frames
into :class:`evidence.writer.StatementWriter` and hands the finished segments to
:func:`evidence.seal.seal_statement`.
"""
