"""Statements taken on the call (issue 15): the written statement the witness signs on their
phone, evidential stills, and the victim's own photos and videos, each sealed as evidence
with the same manifest signing and custody chain as recordings (`evidence.exhibit`)."""
