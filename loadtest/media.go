package loadtest

import (
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
)

// The clips the synthetic publishers send, made with a real encoder
// (media/README.md has the commands): three VP8 sizes for the simulcast
// layers and an Opus track, ten seconds each, sent in a loop.
//
//go:embed media/q.ivf media/h.ivf media/f.ivf media/audio.ogg
var mediaFS embed.FS

// videoClip is one VP8 layer: its frames in order and where keyframes are.
type videoClip struct {
	name   string
	width  int
	height int
	frames [][]byte
	key    []bool
}

// nextKey is the first keyframe at or after frame i (wrapping).
func (c *videoClip) nextKey(i int) int {
	for n := range len(c.frames) {
		j := (i + n) % len(c.frames)
		if c.key[j] {
			return j
		}
	}
	return 0
}

// audioClip is Opus packets of 20 ms each.
type audioClip struct {
	packets [][]byte
}

// clips are parsed once: the embedded files never change.
type clips struct {
	layers [3]*videoClip // q, h, f
	audio  *audioClip
}

func loadClips() (*clips, error) {
	c := &clips{}
	for i, name := range []string{"q", "h", "f"} {
		b, err := mediaFS.ReadFile("media/" + name + ".ivf")
		if err != nil {
			return nil, err
		}
		v, err := parseIVF(b)
		if err != nil {
			return nil, fmt.Errorf("media/%s.ivf: %w", name, err)
		}
		v.name = name
		c.layers[i] = v
	}
	b, err := mediaFS.ReadFile("media/audio.ogg")
	if err != nil {
		return nil, err
	}
	pkts, err := parseOggOpus(b)
	if err != nil {
		return nil, fmt.Errorf("media/audio.ogg: %w", err)
	}
	c.audio = &audioClip{packets: pkts}
	return c, nil
}

// parseIVF reads an IVF file of VP8 frames: a 32-byte file header, then
// frames each behind a 12-byte header (size, 64-bit timestamp).
func parseIVF(b []byte) (*videoClip, error) {
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		return nil, errors.New("not an IVF file")
	}
	if string(b[8:12]) != "VP80" {
		return nil, fmt.Errorf("codec %q, want VP80", b[8:12])
	}
	hdrLen := int(binary.LittleEndian.Uint16(b[6:8]))
	v := &videoClip{width: int(binary.LittleEndian.Uint16(b[12:14])), height: int(binary.LittleEndian.Uint16(b[14:16]))}
	for off := hdrLen; off+12 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off:]))
		off += 12
		if size <= 0 || off+size > len(b) {
			return nil, fmt.Errorf("frame at %d: bad size %d", off-12, size)
		}
		f := b[off : off+size]
		v.frames = append(v.frames, f)
		v.key = append(v.key, f[0]&0x01 == 0) // VP8 frame tag: P=0 on a keyframe
		off += size
	}
	if len(v.frames) == 0 || !v.key[0] {
		return nil, errors.New("no frames, or the first is not a keyframe")
	}
	return v, nil
}

// parseOggOpus returns the Opus packets of an Ogg stream, without the
// OpusHead and OpusTags header packets. Packets are rebuilt from the
// pages' lacing values, so a packet spanning pages comes out whole.
func parseOggOpus(b []byte) ([][]byte, error) {
	var packets [][]byte
	var cur []byte
	for off := 0; off < len(b); {
		if len(b)-off < 27 || string(b[off:off+4]) != "OggS" {
			return nil, fmt.Errorf("bad page at %d", off)
		}
		nseg := int(b[off+26])
		lacing := b[off+27 : off+27+nseg]
		off += 27 + nseg
		for _, l := range lacing {
			if off+int(l) > len(b) {
				return nil, errors.New("truncated page")
			}
			cur = append(cur, b[off:off+int(l)]...)
			off += int(l)
			if l < 255 {
				packets = append(packets, cur)
				cur = nil
			}
		}
	}
	var out [][]byte
	for _, p := range packets {
		if len(p) >= 8 && (string(p[:8]) == "OpusHead" || string(p[:8]) == "OpusTags") {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no Opus packets")
	}
	return out, nil
}
