package main

import (
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

var (
	vp8Codec  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	opusCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
)

func quietLogger() protoLogger.Logger {
	l, err := protoLogger.NewZapLogger(&protoLogger.Config{Level: "warn"})
	if err != nil {
		log.Fatalf("logger: %v", err)
	}
	return l
}

// joinArgs are the Python agent's join arguments; the ones about encoding (rgb, tone, noise,
// fps, bitrate) do not apply to files. height picks the largest file that fits under it (the
// publish caps of a victim's token lower it).
type joinArgs struct {
	Participant string  `json:"participant"`
	URL         string  `json:"url"`
	Token       string  `json:"token"`
	Height      int     `json:"height"`
	Video       *bool   `json:"video"`
	Audio       *bool   `json:"audio"`
	Simulcast   bool    `json:"simulcast"`
	Timeout     float64 `json:"timeout"`
}

type participant struct {
	args    joinArgs
	mu      sync.Mutex
	started time.Time
	room    *lksdk.Room
	remotes map[string]*remote // by identity
	// Frames and audio packets handed to the SDK (the top video layer only).
	sentVideo atomic.Int64
	sentAudio atomic.Int64
	sentFPS   float64
}

type remote struct {
	video *rxTrack
	audio *rxTrack
}

func newParticipant(args joinArgs) *participant {
	return &participant{args: args, remotes: map[string]*remote{}}
}

func (p *participant) connectStarted() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

func enabled(b *bool) bool { return b == nil || *b }

func (p *participant) join(lib *mediaLibrary) (any, error) {
	timeout := time.Duration(p.args.Timeout * float64(time.Second))
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = p.onTrack
	p.mu.Lock()
	p.started = time.Now()
	p.mu.Unlock()
	start := time.Now()
	room, err := lksdk.ConnectToRoomWithToken(p.args.URL, p.args.Token, cb,
		lksdk.WithAutoSubscribe(true), lksdk.WithConnectTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	joinS := time.Since(start).Seconds()
	p.mu.Lock()
	p.room = room
	p.mu.Unlock()
	start = time.Now()
	if enabled(p.args.Video) {
		if err := p.publishVideo(room, lib); err != nil {
			return nil, fmt.Errorf("publish video: %w", err)
		}
	}
	if enabled(p.args.Audio) {
		if err := p.publishAudio(room, lib); err != nil {
			return nil, fmt.Errorf("publish audio: %w", err)
		}
	}
	return map[string]any{
		"join_s":    joinS,
		"publish_s": time.Since(start).Seconds(),
		"identity":  room.LocalParticipant.Identity(),
	}, nil
}

func (p *participant) publishVideo(room *lksdk.Room, lib *mediaLibrary) error {
	maxHeight := p.args.Height
	if maxHeight <= 0 {
		maxHeight = 540
	}
	heights := lib.heights(maxHeight)
	if !p.args.Simulcast {
		heights = heights[len(heights)-1:]
	} else if len(heights) > 3 {
		heights = heights[len(heights)-3:]
	}
	qualities := []livekit.VideoQuality{livekit.VideoQuality_LOW, livekit.VideoQuality_MEDIUM, livekit.VideoQuality_HIGH}
	top := heights[len(heights)-1]
	tracks := make([]*lksdk.LocalTrack, 0, len(heights))
	var topW int
	for i, h := range heights {
		src, err := newIVFLoop(lib.video[h])
		if err != nil {
			return err
		}
		if h == top {
			src.count = &p.sentVideo
			topW = src.width
			p.mu.Lock()
			p.sentFPS = float64(time.Second) / float64(src.duration)
			p.mu.Unlock()
		}
		var opts []lksdk.LocalTrackOptions
		if p.args.Simulcast {
			quality := qualities[len(qualities)-len(heights)+i]
			opts = append(opts, lksdk.WithSimulcast("camera", &livekit.VideoLayer{
				Quality: quality, Width: uint32(src.width), Height: uint32(src.height),
			}))
		}
		track, err := lksdk.NewLocalTrack(vp8Codec, opts...)
		if err != nil {
			return err
		}
		startOnBind(track, src)
		tracks = append(tracks, track)
	}
	pubOpts := &lksdk.TrackPublicationOptions{
		Name: "camera", Source: livekit.TrackSource_CAMERA, VideoWidth: topW, VideoHeight: top,
	}
	if p.args.Simulcast {
		_, err := room.LocalParticipant.PublishSimulcastTrack(tracks, pubOpts)
		return err
	}
	_, err := room.LocalParticipant.PublishTrack(tracks[0], pubOpts)
	return err
}

func (p *participant) publishAudio(room *lksdk.Room, lib *mediaLibrary) error {
	src, err := newOggLoop(lib.audio)
	if err != nil {
		return err
	}
	src.count = &p.sentAudio
	track, err := lksdk.NewLocalTrack(opusCodec)
	if err != nil {
		return err
	}
	startOnBind(track, src)
	_, err = room.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{
		Name: "microphone", Source: livekit.TrackSource_MICROPHONE,
	})
	return err
}

func startOnBind(track *lksdk.LocalTrack, src lksdk.SampleProvider) {
	track.OnBind(func() {
		if err := track.StartWrite(src, nil); err != nil {
			log.Printf("start write: %v", err)
		}
	})
}

func (p *participant) onTrack(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	rx := newRxTrack(track.Kind() == webrtc.RTPCodecTypeVideo)
	p.mu.Lock()
	r := p.remotes[rp.Identity()]
	if r == nil {
		r = &remote{}
		p.remotes[rp.Identity()] = r
	}
	if rx.video {
		r.video = rx
	} else {
		r.audio = rx
	}
	p.mu.Unlock()
	go func() {
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return // the track ended (unsubscribed, left, or the room closed)
			}
			rx.add(pkt, time.Now())
		}
	}()
}

func (p *participant) tracks() (video, audio []*rxTrack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.remotes {
		if r.video != nil {
			video = append(video, r.video)
		}
		if r.audio != nil {
			audio = append(audio, r.audio)
		}
	}
	return video, audio
}

func (p *participant) waitFirstKeyframe(identity string, timeout time.Duration) (time.Time, int, int, error) {
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		r := p.remotes[identity]
		p.mu.Unlock()
		if r != nil && r.video != nil {
			if at, w, h := r.video.firstKeyframe(); !at.IsZero() {
				return at, w, h, nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, 0, 0, fmt.Errorf("no video keyframe from %s within %.0fs", identity, timeout.Seconds())
		}
		// The arrival is stamped by the track's reader; polling only notices it.
		time.Sleep(20 * time.Millisecond)
	}
}

// measure counts what arrives over the next d, as the Python agent's measure does.
func (p *participant) measure(d time.Duration) map[string]any {
	video, audio := p.tracks()
	before := snapshot(video, audio)
	sentBefore := p.sentVideo.Load()
	t0 := time.Now()
	time.Sleep(d)
	video, audio = p.tracks()
	after := snapshot(video, audio)
	secs := time.Since(t0).Seconds()
	v := after.video.minus(before.video)
	a := after.audio.minus(before.audio)
	expected := v.expected + a.expected
	lost := max(0, expected-(v.unique+a.unique))
	loss := 0.0
	if expected > 0 {
		loss = float64(lost) / float64(expected)
	}
	p.mu.Lock()
	sentFPS := p.sentFPS
	p.mu.Unlock()
	return map[string]any{
		"seconds":        secs,
		"video_kbps":     float64(v.bytes) * 8 / 1000 / secs,
		"video_fps":      float64(v.frames) / secs,
		"audio_kbps":     float64(a.bytes) * 8 / 1000 / secs,
		"packets":        v.packets + a.packets,
		"loss_fraction":  loss,
		"lost":           lost,
		"keyframes":      v.keyframes,
		"sent_video_fps": float64(p.sentVideo.Load()-sentBefore) / secs,
		"file_fps":       sentFPS,
	}
}

// totals are the counters since joining, per remote identity and kind.
func (p *participant) totals() map[string]any {
	p.mu.Lock()
	remotes := map[string]any{}
	for id, r := range p.remotes {
		m := map[string]any{}
		if r.video != nil {
			m["video"] = r.video.snapshot().json()
		}
		if r.audio != nil {
			m["audio"] = r.audio.snapshot().json()
		}
		remotes[id] = m
	}
	p.mu.Unlock()
	return map[string]any{
		"remotes":            remotes,
		"sent_video_frames":  p.sentVideo.Load(),
		"sent_audio_packets": p.sentAudio.Load(),
	}
}

func (p *participant) close() {
	p.mu.Lock()
	room := p.room
	p.room = nil
	p.mu.Unlock()
	if room != nil {
		room.Disconnect()
	}
}
