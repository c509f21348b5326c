// Command evr-media-agent holds LiveKit participants that publish pre-encoded media and count
// what they receive without decoding it: the cheap side of the EVR load generator.
//
// It speaks the protocol of loadtests/agent.py (the Python SDK agent) on stdin/stdout, one
// JSON object per line, so the Locust users drive either one the same way:
//
//	request:  {"id": 7, "op": "join", "args": {...}}
//	response: {"id": 7, "ok": true, "result": {...}}  or  {"id": 7, "ok": false, "error": "..."}
//
// Ops: ping, join, first_frame, measure, stats, leave. Requests run concurrently; replies come
// back in completion order; EOF on stdin makes every participant leave, then the agent exits.
// Each participant joins with the token it is given (the control plane's, least privilege)
// and publishes the IVF (VP8) and OGG (Opus) files from -media, looped: one layer, or with
// "simulcast" the 180p and 360p files under the chosen size. Subscribed tracks are read as
// RTP: packets, bytes, frames (RTP marker), keyframes and loss (sequence numbers never seen).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

type request struct {
	ID   int64           `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

type reply struct {
	ID     int64  `json:"id"`
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

type agent struct {
	media *mediaLibrary
	mu    sync.Mutex
	parts map[string]*participant
	out   *json.Encoder
	outMu sync.Mutex
}

func main() {
	mediaDir := flag.String("media", "", "directory with vp8-<size>.ivf and opus.ogg (scripts/setup.sh: .tools/media)")
	flag.Parse()
	if *mediaDir == "" {
		log.Fatal("-media is required")
	}
	lib, err := loadMedia(*mediaDir)
	if err != nil {
		log.Fatalf("media: %v", err)
	}
	// The SDK's own logging stays on stderr, at warnings, so replies own stdout.
	lksdk.SetLogger(quietLogger())
	a := &agent{media: lib, parts: map[string]*participant{}, out: json.NewEncoder(os.Stdout)}
	a.serve(os.Stdin)
}

func (a *agent) serve(in io.Reader) {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 1<<16), 1<<20)
	var wg sync.WaitGroup
	for scanner.Scan() {
		var req request
		if err := json.Unmarshal(scanner.Bytes(), &req); err != nil {
			log.Printf("bad request line: %v", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.handle(req)
		}()
	}
	a.closeAll()
	wg.Wait()
}

func (a *agent) handle(req request) {
	result, err := a.dispatch(req.Op, req.Args)
	r := reply{ID: req.ID, OK: err == nil, Result: result}
	if err != nil {
		r.Error = err.Error()
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if err := a.out.Encode(r); err != nil {
		log.Printf("reply: %v", err)
	}
}

func (a *agent) dispatch(op string, raw json.RawMessage) (any, error) {
	switch op {
	case "ping":
		a.mu.Lock()
		defer a.mu.Unlock()
		return map[string]any{"pid": os.Getpid(), "participants": len(a.parts), "kind": "go"}, nil
	case "join":
		var args joinArgs
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		return a.join(args)
	case "first_frame":
		var args firstFrameArgs
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		return a.firstFrame(args)
	case "measure":
		var args measureArgs
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		p, err := a.get(args.Participant)
		if err != nil {
			return nil, err
		}
		return p.measure(time.Duration(args.Seconds * float64(time.Second))), nil
	case "stats":
		var args participantArgs
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		p, err := a.get(args.Participant)
		if err != nil {
			return nil, err
		}
		return p.totals(), nil
	case "leave":
		var args participantArgs
		if err := decode(raw, &args); err != nil {
			return nil, err
		}
		a.mu.Lock()
		p, ok := a.parts[args.Participant]
		delete(a.parts, args.Participant)
		a.mu.Unlock()
		if ok {
			p.close()
		}
		return map[string]any{"left": ok}, nil
	default:
		return nil, fmt.Errorf("unknown op %q", op)
	}
}

func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bad args: %w", err)
	}
	return nil
}

type participantArgs struct {
	Participant string `json:"participant"`
}

type measureArgs struct {
	Participant string  `json:"participant"`
	Seconds     float64 `json:"seconds"`
}

type firstFrameArgs struct {
	Participant string  `json:"participant"`
	Remote      string  `json:"remote"`
	Since       string  `json:"since"`
	Timeout     float64 `json:"timeout"`
}

func (a *agent) get(key string) (*participant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.parts[key]
	if !ok {
		return nil, fmt.Errorf("no participant %q in this agent", key)
	}
	return p, nil
}

func (a *agent) join(args joinArgs) (any, error) {
	if args.Participant == "" || args.URL == "" || args.Token == "" {
		return nil, errors.New("join needs participant, url and token")
	}
	a.mu.Lock()
	if _, dup := a.parts[args.Participant]; dup {
		a.mu.Unlock()
		return nil, fmt.Errorf("participant %q already joined", args.Participant)
	}
	p := newParticipant(args)
	a.parts[args.Participant] = p
	a.mu.Unlock()
	// A failed join stays registered (as in the Python agent) so that `leave` cleans it up.
	return p.join(a.media)
}

func (a *agent) firstFrame(args firstFrameArgs) (any, error) {
	p, err := a.get(args.Participant)
	if err != nil {
		return nil, err
	}
	origin := p.connectStarted()
	if args.Since != "" {
		other, err := a.get(args.Since)
		if err != nil {
			return nil, err
		}
		if s := other.connectStarted(); s.After(origin) {
			origin = s
		}
	}
	if origin.IsZero() {
		return nil, errors.New("first_frame before join")
	}
	timeout := time.Duration(args.Timeout * float64(time.Second))
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	at, w, h, err := p.waitFirstKeyframe(args.Remote, timeout)
	if err != nil {
		return nil, err
	}
	return map[string]any{"first_frame_s": at.Sub(origin).Seconds(), "size": []int{w, h}}, nil
}

func (a *agent) closeAll() {
	a.mu.Lock()
	parts := make([]*participant, 0, len(a.parts))
	for _, p := range a.parts {
		parts = append(parts, p)
	}
	a.parts = map[string]*participant{}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close()
		}()
	}
	wg.Wait()
}

// mediaLibrary holds every file in memory once; each published track reads its own cursor.
type mediaLibrary struct {
	video map[int][]byte // by height
	audio []byte
}

func loadMedia(dir string) (*mediaLibrary, error) {
	lib := &mediaLibrary{video: map[int][]byte{}}
	for _, h := range []int{180, 360, 540, 720} {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("vp8-%dp.ivf", h)))
		if err != nil {
			return nil, err
		}
		lib.video[h] = data
	}
	audio, err := os.ReadFile(filepath.Join(dir, "opus.ogg"))
	if err != nil {
		return nil, err
	}
	lib.audio = audio
	return lib, nil
}

// heights returns the file heights at or under maxHeight, highest last (at least the lowest).
func (l *mediaLibrary) heights(maxHeight int) []int {
	var hs []int
	for h := range l.video {
		if h <= maxHeight {
			hs = append(hs, h)
		}
	}
	sort.Ints(hs)
	if len(hs) == 0 {
		hs = []int{180}
	}
	return hs
}
