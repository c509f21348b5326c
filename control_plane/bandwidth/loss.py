"""Packet loss on the probe leg: the worse of what the server saw and what the phone reports.

The SFU repairs the phone's upstream loss with NACK retransmissions before its forwarded
stream reaches the server's hidden subscriber, so that subscriber sees almost none of it: on
a link dropping 8 % of packets at random the server's own figure read 0 %. The phone's
sender knows better: it retransmitted every packet the SFU asked for again, and the SFU's
receiver reports (RTCP) tell it how many never arrived. The phone sends those counters with
`POST .../finish`, and the verdict uses the worse of the two figures, so a phone can only
make its result worse: a report that understates the server's own figure changes nothing.
"""

from dataclasses import dataclass

MIN_PACKETS = 50
"""Fewer original packets than this give no phone figure: too few to say anything."""


@dataclass(frozen=True, kw_only=True)
class SenderReport:
    """The phone's counters for its probe video (its outbound-rtp and remote-inbound-rtp
    statistics, as WebRTC defines them)."""

    packets_sent: int
    """RTP packets sent, retransmissions included."""
    retransmitted_packets_sent: int
    nack_count: int
    """NACKs the SFU sent the phone (informational: one NACK may name many packets)."""
    remote_packets_lost: int | None
    """Packets the SFU's receiver reports counted as lost, if the phone had a report."""


def phone_loss(report: SenderReport | None) -> float | None:
    """The share of the phone's original packets that the link lost, by its own counters:
    the larger of the retransmitted share (every lost packet the SFU asked for is sent
    again) and the share the SFU reported lost. None without enough packets to tell."""
    if report is None:
        return None
    originals = report.packets_sent - report.retransmitted_packets_sent
    if originals < MIN_PACKETS:
        return None
    lost = max(report.retransmitted_packets_sent, report.remote_packets_lost or 0)
    return min(1.0, lost / originals)


def worse_loss(server: float | None, phone: float | None) -> float | None:
    """The figure the verdict uses: the phone's report may raise the server's, never lower it."""
    if server is None:
        return phone
    if phone is None:
        return server
    return max(server, phone)
