package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// ivfLoop hands out an IVF file's VP8 frames, starting over at the end; the SDK paces them
// by Duration. The file starts with a keyframe, so every loop is decodable on its own.
type ivfLoop struct {
	lksdk.BaseSampleProvider
	data          []byte
	r             *ivfreader.IVFReader
	duration      time.Duration
	width, height int
	count         *atomic.Int64
}

func newIVFLoop(data []byte) (*ivfLoop, error) {
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if hdr.TimebaseDenominator == 0 || hdr.TimebaseNumerator == 0 {
		return nil, errors.New("ivf: no timebase")
	}
	d := time.Duration(float64(time.Second) * float64(hdr.TimebaseNumerator) / float64(hdr.TimebaseDenominator))
	return &ivfLoop{data: data, r: r, duration: d, width: int(hdr.Width), height: int(hdr.Height)}, nil
}

func (l *ivfLoop) NextSample(context.Context) (media.Sample, error) {
	frame, _, err := l.r.ParseNextFrame()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if l.r, _, err = ivfreader.NewWith(bytes.NewReader(l.data)); err != nil {
			return media.Sample{}, err
		}
		frame, _, err = l.r.ParseNextFrame()
	}
	if err != nil {
		return media.Sample{}, err
	}
	if l.count != nil {
		l.count.Add(1)
	}
	return media.Sample{Data: frame, Duration: l.duration}, nil
}

// oggLoop hands out an Opus OGG file's packets (one per page: make_media.sh writes 20 ms
// pages), starting over at the end.
type oggLoop struct {
	lksdk.BaseSampleProvider
	data    []byte
	r       *oggreader.OggReader
	granule uint64
	count   *atomic.Int64
}

const opusFrame = 20 * time.Millisecond

func newOggLoop(data []byte) (*oggLoop, error) {
	l := &oggLoop{data: data}
	return l, l.rewind()
}

func (l *oggLoop) rewind() error {
	r, _, err := oggreader.NewWith(bytes.NewReader(l.data))
	l.r, l.granule = r, 0
	return err
}

func (l *oggLoop) NextSample(context.Context) (media.Sample, error) {
	for range 4 { // skips the tags page and restarts at the end
		payload, hdr, err := l.r.ParseNextPage()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if err := l.rewind(); err != nil {
				return media.Sample{}, err
			}
			continue
		}
		if err != nil {
			return media.Sample{}, err
		}
		if bytes.HasPrefix(payload, []byte("OpusTags")) || len(payload) == 0 {
			continue
		}
		d := opusFrame
		if hdr.GranulePosition > l.granule {
			// Granules count 48 kHz samples; the first page also carries the pre-skip.
			if g := time.Duration(hdr.GranulePosition-l.granule) * time.Second / 48000; g <= 3*opusFrame {
				d = g
			}
		}
		l.granule = hdr.GranulePosition
		if l.count != nil {
			l.count.Add(1)
		}
		return media.Sample{Data: payload, Duration: d}, nil
	}
	return media.Sample{}, errors.New("ogg: no audio pages")
}
