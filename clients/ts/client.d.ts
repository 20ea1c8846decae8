// Types of client.js (written by hand, over the generated socket.d.ts).
import type {
  ClientMessage,
  ClientMessageOf,
  ClientMessageType,
  ErrorMessage,
  ServerMessage,
  ServerMessageOf,
  ServerMessageType,
  SessionJoined,
} from "./socket";

/** The server's error codes, and this side's "disconnected" and "timeout". */
export type SocketErrorCode = ErrorMessage["code"] | "disconnected" | "timeout";

export declare class SocketError extends Error {
  constructor(code: SocketErrorCode, message?: string);
  readonly code: SocketErrorCode;
}

/** Marks the Opus of an answer usedtx=1 (Publisher does it unless dtx: false). */
export declare function withOpusDTX(sdp: string): string;

export declare const SIMULCAST: ReadonlyArray<{ readonly rid: "q" | "h" | "f"; readonly scaleResolutionDownBy?: number }>;

/** What ChobiSocket needs of a WebSocket class (the browser's, react-native's, the ws package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: any) => void) | null;
}

export type SocketState = "idle" | "connecting" | "open" | "reconnecting" | "unauthorized" | "closed";

/** A message's type without its id: what request() and send() take. */
type Outgoing<T extends ClientMessageType> = Omit<ClientMessageOf<T>, "id">;

/** The reply each request is answered with. */
export interface Replies {
  ping: ServerMessageOf<"pong">;
  join_session: SessionJoined;
  leave_session: ServerMessageOf<"session_left">;
  publish_offer: ServerMessageOf<"publish_answer">;
}

export declare class ChobiSocket {
  constructor(options: {
    /** The session's wsUrl (streaming.createSession / joinSession). */
    url: string;
    token: string;
    WebSocket?: new (url: string) => WebSocketLike;
    /** After every (re)connect (a LiveSession joins again by itself). */
    onOpen?: () => void;
    onStatus?: (state: SocketState, detail?: { code: number }) => void;
    requestTimeoutMs?: number;
    /** Keepalive: a ping this often (0: none), dropping and reconnecting without a pong in pongWithinMs. */
    pingEveryMs?: number;
    pongWithinMs?: number;
  });
  readonly state: SocketState;
  readonly isOpen: boolean;
  connect(): void;
  /** Connects if need be; resolves once open (rejects with "unauthorized" if the token is refused). */
  open(): Promise<void>;
  on<T extends ServerMessageType>(type: T, fn: (msg: ServerMessageOf<T>) => void): () => void;
  on(type: "*", fn: (msg: ServerMessage) => void): () => void;
  /** fn runs after every reconnect (not the first connect); returns the unsubscribe. */
  onReopen(fn: () => void): () => void;
  send(msg: ClientMessage): boolean;
  /** Reconnects now (the app saw the network come back). */
  retryNow(): void;
  /** Drops the connection as a network failure would; it reconnects. */
  drop(): void;
  request<T extends keyof Replies & ClientMessageType>(msg: Outgoing<T> & { type: T }, timeoutMs?: number): Promise<Replies[T]>;
  close(): void;
}

/** The RTCPeerConnection class to use (the browser's, or react-native-webrtc's). */
export type PeerConnectionClass = new (config: RTCConfiguration) => RTCPeerConnection;

export interface PublishedTrack {
  track: MediaStreamTrack;
  stream?: MediaStream;
}

export declare class Publisher {
  constructor(options: {
    RTCPeerConnection: PeerConnectionClass;
    iceServers?: RTCIceServer[];
    signal: { offer(sdp: string): Promise<string>; candidate(c: RTCIceCandidateInit | null): void };
    onFailed?: () => void;
    simulcast?: boolean;
    /** Opus RED first, where RTCRtpSender.getCapabilities lists it (default true). */
    red?: boolean;
    /** Opus DTX (default true). */
    dtx?: boolean;
    /** Where RTCRtpSender is not a global (react-native-webrtc's). */
    RTCRtpSender?: { getCapabilities?(kind: string): RTCRtpCapabilities | null };
  });
  readonly pc: RTCPeerConnection;
  publish(tracks: PublishedTrack[]): Promise<void>;
  restartIce(): Promise<void>;
  addRemoteCandidate(c: RTCIceCandidateInit | null): void;
  setLayers(trackId: string, active: string[]): Promise<void>;
  close(): void;
}

export declare class Subscriber {
  constructor(options: {
    RTCPeerConnection: PeerConnectionClass;
    iceServers?: RTCIceServer[];
    signal: { answer(sdp: string): void; candidate(c: RTCIceCandidateInit | null): void };
    onTrack?: (track: MediaStreamTrack, streams: readonly MediaStream[]) => void;
    onFailed?: () => void;
  });
  readonly pc: RTCPeerConnection;
  handleOffer(sdp: string): Promise<void>;
  addRemoteCandidate(c: RTCIceCandidateInit | null): void;
  close(): void;
}

export declare class LiveSession {
  constructor(options: {
    socket: ChobiSocket;
    sessionId: string;
    RTCPeerConnection?: PeerConnectionClass;
    RTCRtpSender?: { getCapabilities?(kind: string): RTCRtpCapabilities | null };
    /** A received track; label it with the tracks message (trackId, streamId). */
    onTrack?: (track: MediaStreamTrack, streams: readonly MediaStream[]) => void;
    /** A PeerConnection failed, the server closed it, or the socket reconnected: the session is joined again, with new PeerConnections. */
    onMediaFailed?: (target: "publisher" | "subscriber" | "socket") => void;
  });
  readonly sessionId: string;
  readonly publisher: Publisher | null;
  readonly subscriber: Subscriber | null;
  join(): Promise<SessionJoined>;
  publish(tracks: PublishedTrack[], options?: { simulcast?: boolean; red?: boolean; dtx?: boolean }): Promise<void>;
  setQuality(trackId: string, quality: ClientMessageOf<"set_quality">["quality"]): boolean;
  restartIce(): Promise<void>;
  leave(): Promise<void>;
  close(): void;
}
