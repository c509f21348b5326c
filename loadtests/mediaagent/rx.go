package main

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// rxTrack counts one subscribed track's RTP without decoding it. Loss is the sequence numbers
// never seen (a retransmission that arrives in time is not loss), so duplicates are told
// apart with a bitmap over the last 65536 sequence numbers.
type rxTrack struct {
	video bool
	mu    sync.Mutex
	c     counts
	seen  [1024]uint64
	began bool
	// The first keyframe that arrived whole: when, and its size from the VP8 header.
	keyTS      uint32
	keyPending bool
	firstKeyAt time.Time
	width      int
	height     int
}

type counts struct {
	packets, bytes, frames, keyframes int64
	unique, expected                  int64
	firstExt, maxExt                  int64
}

func newRxTrack(video bool) *rxTrack { return &rxTrack{video: video} }

func (t *rxTrack) bit(seq uint16) (word int, mask uint64) { return int(seq >> 6), 1 << (seq & 63) }

func (t *rxTrack) add(pkt *rtp.Packet, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.packets++
	t.c.bytes += int64(len(pkt.Payload))
	seq := pkt.SequenceNumber
	if !t.began {
		t.began = true
		t.c.firstExt, t.c.maxExt = int64(seq), int64(seq)
	}
	ext := t.c.maxExt + int64(int16(seq-uint16(t.c.maxExt)))
	if ext > t.c.maxExt {
		// Forget what the bitmap held for the numbers now coming round again.
		for s, n := t.c.maxExt+1, 0; s <= ext && n < 65536; s, n = s+1, n+1 {
			w, m := t.bit(uint16(s))
			t.seen[w] &^= m
		}
		t.c.maxExt = ext
	}
	if ext < t.c.firstExt {
		t.c.firstExt = ext // reordered at the very start
	}
	w, m := t.bit(seq)
	if t.seen[w]&m == 0 {
		t.seen[w] |= m
		t.c.unique++
	} else {
		return // a duplicate (retransmitted twice): counted once
	}
	if !t.video {
		t.c.frames++
		return
	}
	if key, w, h := vp8Keyframe(pkt.Payload); key {
		t.keyTS, t.keyPending = pkt.Timestamp, true
		if t.firstKeyAt.IsZero() && w > 0 {
			t.width, t.height = w, h
		}
	}
	if pkt.Marker {
		t.c.frames++
		if t.keyPending && pkt.Timestamp == t.keyTS {
			t.keyPending = false
			t.c.keyframes++
			if t.firstKeyAt.IsZero() {
				t.firstKeyAt = now
			}
		}
	}
}

func (t *rxTrack) snapshot() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.c
	if t.began {
		c.expected = c.maxExt - c.firstExt + 1
	}
	return c
}

func (t *rxTrack) firstKeyframe() (time.Time, int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstKeyAt, t.width, t.height
}

func (c counts) minus(o counts) counts {
	return counts{
		packets: c.packets - o.packets, bytes: c.bytes - o.bytes, frames: c.frames - o.frames,
		keyframes: c.keyframes - o.keyframes, unique: c.unique - o.unique, expected: c.expected - o.expected,
	}
}

func (c counts) plus(o counts) counts {
	return counts{
		packets: c.packets + o.packets, bytes: c.bytes + o.bytes, frames: c.frames + o.frames,
		keyframes: c.keyframes + o.keyframes, unique: c.unique + o.unique, expected: c.expected + o.expected,
	}
}

func (c counts) json() map[string]int64 {
	return map[string]int64{
		"packets": c.packets, "bytes": c.bytes, "frames": c.frames, "keyframes": c.keyframes,
		"lost": max(0, c.expected-c.unique),
	}
}

type both struct{ video, audio counts }

func snapshot(video, audio []*rxTrack) both {
	var b both
	for _, t := range video {
		b.video = b.video.plus(t.snapshot())
	}
	for _, t := range audio {
		b.audio = b.audio.plus(t.snapshot())
	}
	return b
}

// vp8Keyframe reads the VP8 RTP payload descriptor (RFC 7741) and, at the start of a frame's
// first partition, the frame tag: a keyframe, and its size from the keyframe header.
func vp8Keyframe(b []byte) (key bool, width, height int) {
	if len(b) < 1 {
		return false, 0, 0
	}
	start, pid := b[0]&0x10 != 0, b[0]&0x07
	i := 1
	if b[0]&0x80 != 0 { // X: extension byte
		if len(b) < 2 {
			return false, 0, 0
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(b) <= i {
				return false, 0, 0
			}
			if b[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			i++
		}
	}
	if !start || pid != 0 || len(b) <= i {
		return false, 0, 0
	}
	h := b[i:]
	if h[0]&0x01 != 0 { // P bit set: an inter frame
		return false, 0, 0
	}
	// 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
	if len(h) >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a {
		width = int(h[6]) | int(h[7]&0x3f)<<8
		height = int(h[8]) | int(h[9]&0x3f)<<8
	}
	return true, width, height
}
