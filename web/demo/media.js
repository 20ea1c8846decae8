// WebRTC for a session (PROTOCOL.md §2, media signaling): a publisher
// PeerConnection that offers the camera and mic with simulcast, and a
// subscriber PeerConnection that answers the server's offers. Candidates
// trickle both ways; remote ones wait until the remote description is set,
// local ones until the offer or answer they belong to has been sent.

// Three simulcast layers, as the browser offers them (rids q, h, f).
export const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4 },
  { rid: 'h', scaleResolutionDownBy: 2 },
  { rid: 'f' },
];

// A reason the camera or mic could not be had: denied, notFound, inUse,
// insecure or failed. The page turns it into a message.
export class MediaAccessError extends Error {
  constructor(reason, cause) {
    super(reason);
    this.name = 'MediaAccessError';
    this.reason = reason;
    this.cause = cause;
  }
}

// The camera (for video sessions) and the mic. Asks for 1280×720 so that the
// three simulcast layers all exist (a 640×480 capture yields only two).
export async function getLocalMedia(type) {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw new MediaAccessError('insecure');
  }
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  const video = type === 'video'
    ? { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24, max: 30 } }
    : false;
  try {
    return await navigator.mediaDevices.getUserMedia({ audio, video });
  } catch (e) {
    if (e?.name === 'OverconstrainedError') {
      try {
        return await navigator.mediaDevices.getUserMedia({ audio: true, video: type === 'video' });
      } catch (e2) {
        throw mediaError(e2);
      }
    }
    throw mediaError(e);
  }
}

function mediaError(e) {
  switch (e?.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return new MediaAccessError('denied', e);
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return new MediaAccessError('notFound', e);
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return new MediaAccessError('inUse', e);
    default:
      return new MediaAccessError('failed', e);
  }
}

export function stopStream(stream) {
  for (const t of stream?.getTracks() || []) t.stop();
}

function candidateInit(c) {
  if (!c || !c.candidate) return null; // the end of candidates
  return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
}

// Remote candidates wait for the remote description; local ones for the
// offer or answer to have gone out.
class Trickle {
  constructor(pc, sendCandidate) {
    this.pc = pc;
    this.sendCandidate = sendCandidate;
    this.remoteReady = false;
    this.remoteQueue = [];
    this.localReady = false;
    this.localQueue = [];
    pc.addEventListener('icecandidate', (e) => {
      const c = candidateInit(e.candidate);
      if (this.localReady) this.sendCandidate(c);
      else this.localQueue.push(c);
    });
  }

  addRemote(c) {
    if (!c || !c.candidate) return; // end of candidates: nothing to do
    if (!this.remoteReady) { this.remoteQueue.push(c); return; }
    this.pc.addIceCandidate(c).catch((e) => console.warn('addIceCandidate', e));
  }

  remoteSet() {
    this.remoteReady = true;
    for (const c of this.remoteQueue.splice(0)) this.addRemote(c);
  }

  localSent() {
    this.localReady = true;
    for (const c of this.localQueue.splice(0)) this.sendCandidate(c);
  }
}

// Opus RED (RFC 2198): each audio packet also carries the previous frame,
// so a lost packet costs no sound, for a few kbps more. Chromium offers RED
// after Opus and only sends it when it comes first; the server forwards it
// to viewers that take it and the plain Opus inside to those that do not.
function preferRED(transceiver) {
  const codecs = window.RTCRtpSender?.getCapabilities?.('audio')?.codecs;
  if (!codecs || !transceiver.setCodecPreferences) return;
  const isRED = (c) => c.mimeType.toLowerCase() === 'audio/red';
  if (!codecs.some(isRED)) return;
  try {
    transceiver.setCodecPreferences([...codecs.filter(isRED), ...codecs.filter((c) => !isRED(c))]);
  } catch (e) {
    console.warn('RED refused, sending plain Opus', e);
  }
}

// Opus DTX: the server's answer says its side takes DTX (usedtx=1 in the Opus
// fmtp), so the browser sends a packet every 400 ms instead of 50 a second
// while the mic is silent. A remote description is ours to read as we like.
export function withOpusDTX(sdp) {
  const opus = [...sdp.matchAll(/^a=rtpmap:(\d+) opus\/48000/gim)].map((m) => m[1]);
  return sdp.split('\r\n').map((line) => {
    const m = line.match(/^a=fmtp:(\d+) (.*)$/);
    return m && opus.includes(m[1]) && !/usedtx=/.test(m[2]) ? `${line};usedtx=1` : line;
  }).join('\r\n');
}

// The publisher PeerConnection: offers the stream's tracks once, send-only,
// video with three simulcast layers.
export class Publisher {
  // signal.offer(sdp) → Promise<answer sdp>; signal.candidate(init|null).
  constructor({ stream, iceServers, signal, onFailed }) {
    this.stream = stream;
    this.signal = signal;
    this.onFailed = onFailed;
    this.closed = false;
    this.pc = new RTCPeerConnection({ iceServers: iceServers || [], bundlePolicy: 'max-bundle' });
    this.trickle = new Trickle(this.pc, signal.candidate);
    this.pc.addEventListener('connectionstatechange', () => {
      if (this.pc.connectionState === 'failed' && !this.closed) this.onFailed?.('publisher');
    });
  }

  async start() {
    for (const track of this.stream.getTracks()) {
      const init = { direction: 'sendonly', streams: [this.stream] };
      if (track.kind === 'video') {
        try {
          this.pc.addTransceiver(track, { ...init, sendEncodings: SIMULCAST.map((e) => ({ ...e })) });
          continue;
        } catch (e) {
          console.warn('simulcast refused, sending one layer', e);
        }
      }
      const tr = this.pc.addTransceiver(track, init);
      if (track.kind === 'audio') preferRED(tr);
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const answering = this.signal.offer(this.pc.localDescription.sdp);
    this.trickle.localSent();
    const sdp = await answering;
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: withOpusDTX(sdp) });
    this.trickle.remoteSet();
  }

  addRemoteCandidate(c) { this.trickle.addRemote(c); }

  // Dynacast (publish_layers): the server names the simulcast layers someone
  // receives; the others are paused, saving the encoder's CPU and the
  // uplink, until a later message lists them again. Calls run one after
  // another: setParameters refuses parameters read before another call
  // applied its own.
  setLayers(trackId, active) {
    this.layersChain = (this.layersChain || Promise.resolve()).then(async () => {
      if (this.closed) return;
      const sender = this.pc.getSenders().find((s) => s.track?.id === trackId);
      const params = sender?.getParameters();
      if (!params?.encodings?.length || params.encodings.length < 2) return;
      let changed = false;
      for (const e of params.encodings) {
        const on = !e.rid || active.includes(e.rid);
        if (e.active !== on) { e.active = on; changed = true; }
      }
      if (changed) await sender.setParameters(params);
    }).catch((e) => {
      if (!this.closed) console.warn('publish_layers', e);
    });
    return this.layersChain;
  }

  close() {
    this.closed = true;
    try { this.pc.close(); } catch { /* closed */ }
  }
}

// The subscriber PeerConnection: the server offers whenever tracks come and
// go; offers are answered one at a time, in order.
export class Subscriber {
  // signal.answer(sdp); signal.candidate(init|null); onTrack(track, stream).
  constructor({ iceServers, signal, onTrack, onFailed }) {
    this.signal = signal;
    this.onFailed = onFailed;
    this.closed = false;
    this.chain = Promise.resolve();
    this.pc = new RTCPeerConnection({ iceServers: iceServers || [], bundlePolicy: 'max-bundle' });
    this.trickle = new Trickle(this.pc, signal.candidate);
    this.pc.addEventListener('track', (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      onTrack(e.track, stream);
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (this.pc.connectionState === 'failed' && !this.closed) this.onFailed?.('subscriber');
    });
  }

  handleOffer(sdp) {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      this.trickle.remoteSet();
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.signal.answer(this.pc.localDescription.sdp);
      this.trickle.localSent();
    }).catch((e) => {
      if (!this.closed) console.error('subscribe offer', e);
    });
    return this.chain;
  }

  addRemoteCandidate(c) { this.trickle.addRemote(c); }

  close() {
    this.closed = true;
    try { this.pc.close(); } catch { /* closed */ }
  }
}

// Figures for the stats overlay from getStats: resolution, bitrate, packet
// loss and round-trip time, the rates over the interval since the last call.
export class StatsMeter {
  constructor() {
    this.prev = new Map(); // stats id → {bytes, lost, packets, ts}
  }

  rate(id, bytes, lost, packets, ts) {
    const p = this.prev.get(id);
    this.prev.set(id, { bytes, lost, packets, ts });
    if (!p || ts <= p.ts) return { kbps: null, loss: packets + lost > 0 ? lost / (packets + lost) : 0 };
    const dLost = Math.max(0, lost - p.lost);
    const dAll = Math.max(0, packets - p.packets) + dLost;
    return { kbps: ((bytes - p.bytes) * 8) / (ts - p.ts), loss: dAll > 0 ? dLost / dAll : 0 };
  }

  static rttMs(report) {
    let pairId = null;
    report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
    let rtt = null;
    report.forEach((s) => {
      if (s.type !== 'candidate-pair') return;
      const chosen = pairId ? s.id === pairId : (s.selected || (s.nominated && s.state === 'succeeded'));
      if (chosen && typeof s.currentRoundTripTime === 'number') rtt = s.currentRoundTripTime * 1000;
    });
    return rtt;
  }

  // Per received track (by MediaStreamTrack id): {kind, width, height, kbps, loss, rttMs, audioLevel}.
  async inbound(pc) {
    const out = new Map();
    if (!pc || pc.connectionState === 'closed') return out;
    const report = await pc.getStats();
    const rttMs = StatsMeter.rttMs(report);
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const { kbps, loss } = this.rate(s.id, s.bytesReceived || 0, s.packetsLost || 0, s.packetsReceived || 0, s.timestamp);
      out.set(s.trackIdentifier || s.id, {
        kind: s.kind, width: s.frameWidth || 0, height: s.frameHeight || 0, fps: s.framesPerSecond || 0,
        kbps, loss, rttMs, audioLevel: s.audioLevel ?? null, totalAudioEnergy: s.totalAudioEnergy ?? null,
        framesDecoded: s.framesDecoded ?? null,
      });
    });
    return out;
  }

  // The publisher's figures: the largest layer sent, every layer's bitrate,
  // loss and RTT as the server reports them back.
  async outbound(pc) {
    if (!pc || pc.connectionState === 'closed') return null;
    const report = await pc.getStats();
    let width = 0, height = 0, bytes = 0, sent = 0, lost = 0, rtt = null, audioLevel = null, ts = 0;
    report.forEach((s) => {
      if (s.type === 'outbound-rtp') {
        bytes += s.bytesSent || 0;
        sent += s.packetsSent || 0;
        ts = Math.max(ts, s.timestamp);
        if (s.kind === 'video' && (s.frameWidth || 0) > width) { width = s.frameWidth; height = s.frameHeight || 0; }
      } else if (s.type === 'remote-inbound-rtp') {
        lost += Math.max(0, s.packetsLost || 0);
        if (typeof s.roundTripTime === 'number') rtt = s.roundTripTime * 1000;
      } else if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') {
        audioLevel = s.audioLevel;
      }
    });
    const { kbps, loss } = this.rate('out', bytes, lost, Math.max(0, sent - lost), ts);
    return { kind: width ? 'video' : 'audio', width, height, kbps, loss, rttMs: rtt ?? StatsMeter.rttMs(report), audioLevel };
  }
}
