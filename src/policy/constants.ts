/**
 * Policy defaults, each with the reason it has this value. The simulator
 * (src/sim) measures them; change a default only with a measurement.
 */
import type { ChokerConfig, DownloadConfig, OriginConfig } from './types.js'

export const DEFAULT_DOWNLOAD_CONFIG: Readonly<Required<DownloadConfig>> = Object.freeze({
  /**
   * libtorrent's initial_picker_threshold is 4: a new host takes its first few
   * chunks at random instead of all chasing the same rarest ones, so it has
   * something different to trade within a few chunk times.
   */
  randomFirstPicks: 4,
  /**
   * Two requests keep a link busy when the round trip is shorter than one
   * chunk's transfer (1 MiB at 1 Gbit/s is ~8 ms, a LAN round trip < 1 ms):
   * the next request is queued at the sender while the current one streams.
   */
  minPipeline: 2,
  /**
   * Enough for 256 KiB chunks at 10 Gbit/s over a 5 ms round trip plus the
   * queue time below (~40 chunks would be needed at 1 ms more), while keeping
   * a slow peer from hoarding many chunks that others could serve.
   */
  maxPipeline: 32,
  /**
   * Floor for re-issuing an unanswered request. A LAN chunk takes ms, so a
   * request silent for 4 s means a stalled or vanished peer; the rate-scaled
   * term (timeoutFactor) covers big chunks on shared, slow links.
   */
  requestTimeoutMs: 4_000,
  /**
   * Duplicating requests costs bandwidth; only do it for the last few dozen
   * chunks, where waiting on one slow peer would set the makespan. This is a
   * cap: small images use endGameFraction instead.
   */
  endGameThreshold: 64,
  /**
   * 2% of the image (at least END_GAME_MIN chunks): the cluster measured a
   * fixed 64 on a 64-chunk image as end game for the whole download, hosts
   * receiving 1.5-2.5x the image and the front-end up to 18x (FINDINGS 1).
   * A 9.77 GB image (9317 chunks) still gets 64, 899 MB gets 18, 64 MiB gets 2.
   * Duplicates also go only to idle links (download-policy pick()).
   */
  endGameFraction: 0.02,
  /** Two bad chunks: one may be a bit flip on a sick disk, two is a pattern. */
  maxCorruptPerPeer: 2,
  /** Before any rate is known: enough to fill a LAN link, few enough to waste little on a slow peer. */
  initialPipeline: 4,
  /**
   * libtorrent queues request_queue_time (3 s) of data per peer, tuned for
   * WAN jitter. On a switched LAN 20 ms of queued data is enough to hide
   * scheduling jitter, and keeps rarest-first decisions fresh.
   */
  pipelineQueueMs: 20,
  /** A request may take this many times its expected service time before it is re-issued. */
  timeoutFactor: 4,
  /** In end game, ask at most three peers for one chunk (the first to answer wins, the rest are cancelled). */
  endGameMaxRequests: 3,
  /**
   * An owner normally pulls its share of a neighbour zone's new chunks within a
   * few chunk times; after 1.5 s a second member may take it too (see
   * CROSS_ZONE_STEPS), covering an owner that is choked or slow.
   */
  crossZoneGraceMs: 1_500,
  /**
   * ...or this many chunk times at the median rate our peers deliver, if
   * longer. The owner's fetch and its HAVE both take longer on slow or busy
   * links (the HAVE waits behind queued chunk data). In the 16-host,
   * two-switch cluster (64 MiB, 50 Mbit/s, ~0.7 s per chunk per peer), a
   * fixed 1.5 s let a second member fetch across for most chunks:
   * inter-switch 2.3 images; 4 s gave 1.7, 8 s 1.4, makespan unchanged. In
   * the simulator's paper run (1 Gbit/s, ~70 ms per chunk) a fixed 8 s cost
   * 10% of makespan, so the grace follows the measured rate.
   */
  crossZoneGraceChunks: 20,
  /** Drivers that model choking call onChoke(peer, false) themselves; the default assumes requests may flow. */
  peersStartChoked: false,
  /** Bucket entries looked at per pick before a bitfield scan (bounded cost either way). */
  scanBudget: 256,
  /**
   * In the tail every host holds nearly everything, so tit-for-tat ranks a
   * host missing its last chunk below everyone: in an 899 MB, 72-host swarm
   * the hosts of one zone sat 2 s on their last chunk, choked by the zone
   * member holding it while peers of the other zone had unchoked them.
   * Measured there (seeds 1-3, x T_min): 500 ms 1.74/1.75/1.87, 200 ms
   * 1.57/1.57/1.71, 0 (the second pick in a row with nothing to ask)
   * 1.32/1.56/1.37, inter-zone 1.2-1.3 images, front-end unchanged.
   */
  starveMs: 0,
  downlinkBps: 0
})

/**
 * A full-service origin must deliver at least this fraction of our stated
 * link to stay our only source (see Download.feeder)...
 */
export const FEEDER_MIN_SHARE = 0.5
/** ...judged once it has sent this many chunks as our only source. */
export const FEEDER_JUDGE_CHUNKS = 8

/** End game covers at least this many outstanding chunks, however small the image. */
export const END_GAME_MIN = 2

/**
 * A chunk on offer in another zone and not yet in ours is opened to one more
 * zone member per crossZoneGraceMs, and to all after this many graces: a
 * slow owner costs a grace, while a link that is merely busy does not turn
 * into every member fetching the same chunk across the boundary.
 */
export const CROSS_ZONE_STEPS = 4

export const DEFAULT_CHOKER_CONFIG: Readonly<Required<ChokerConfig>> = Object.freeze({
  /**
   * 16 regular slots (+1 optimistic), four times BitTorrent's classic 4. The
   * link caps (swarm-links.ts: 10 dialled, up to 14 accepted) bound how many
   * flows a host runs, so in a swarm that keeps them every link is unchoked
   * while it wants something; the slots still choke where a host has more
   * links (a seed's, the simulator's 40-peer paper graph). Our hosts do not
   * free-ride, and on the cluster every flow through two FIFO ports ran
   * cwnd-limited with data waiting while uplinks and downlinks stayed ~11 %
   * idle: more flows per uplink keep it busier (bench/cluster/FINDINGS.md
   * session 10). 8 -> 16 slots, cluster, 64 MiB, alternated runs,
   * makespan x T_min (mean host s):
   *   N=16 B=20 reno 1.26-1.31 (32.8-33.9) -> 1.20-1.23 (31.8-32.2), 5 + 5 runs;
   *   N=24 B=20 reno 1.41-1.69 (36.4-41.8) -> 1.33-1.63 (34.3-41.1), 5 + 5, CPU 95-99 % busy;
   *   N=16 B=50 1.50-1.59 (14.5-15.1) -> 1.37-1.49 (14.3-14.4), 3 + 3;
   *   N=24 B=50, CPU-bound, 2.23-2.55 -> 2.13-2.39, 3 + 3.
   * 4 slots: 1.35 x at N=16 B=20. Simulator, 8 -> 16 (`point.js --set
   * policyConfig.choker.uploadSlots=K`): paper 9.77 GB N=72 1.025 / 1.024 ->
   * 1.012 / 1.012 (32 slots: 1.089 / 1.061); 899 MB 1.126 / 1.107 -> 1.093 /
   * 1.075; cluster-b50-loaded (the daemon's caps), seeds 1-3: N=16
   * 1.083-1.109 -> 1.062-1.080, N=24 1.103-1.107 -> 1.088-1.112; with starts
   * 1.5 s apart N=16 1.18-1.22 -> 1.16, N=24 1.19-1.20 -> 1.16-1.19.
   * Unchoking every link makes a host's download rate follow its link count:
   * in a graph with degrees 8-16 (peers.count 12 without the caps) the 8- and
   * 9-link hosts finished last, 1.22-1.28 x at N=24 against 1.10-1.13 with 8.
   * Open: the simulator's paper swarm (72 hosts, 512 KiB chunks) given the
   * daemon's caps ends at 1.06-1.09 x with 16 against 1.01-1.08 x with 8,
   * though its mean host does better (1.005-1.013 x): a host with 10 links
   * gets 0.89-0.93 of its link all along, its uploaders splitting theirs over
   * more flows. Feeding such laggards first fixed it on one switch and hurt
   * with two, and the cluster cannot run 72 hosts (bench/sim/FINDINGS.md 9, 10).
   */
  uploadSlots: 16,
  /**
   * BitTorrent rechokes every 10 s over minutes-long WAN transfers. An 899 MB
   * image crosses a 1 Gbit/s link in ~7 s, so 10 s would leave the first
   * unchoke (chosen blind) in place for the whole transfer. At 2 s a host
   * passed over by most of its peers early on (it started late, so it had
   * little to give) stayed at a fraction of its link for two or three
   * rechokes and finished last. Simulator, 2 s -> 1 s (8 seeds; paper 4):
   *   scenario cluster-b50-loaded (150 ms one way), N=16 1.21 -> 1.14 x T_min,
   *     N=24 1.23 -> 1.15; at 50 ms 1.15 / 1.17 -> 1.06 / 1.08;
   *   paper 899 MB N=72 1.21-1.31 -> 1.10-1.14; 9.77 GB 1.031-1.040 -> 1.025-1.029.
   * 500 ms was worse (1.25 / 1.33 at 150 ms): chokes cut chunks in flight,
   * and end game fetched 13-19 % of the image twice.
   */
  rechokeIntervalMs: 1_000,
  /** Rotate the optimistic slot every 3 rechokes (3 s), BitTorrent's ratio of 30 s to 10 s. */
  optimisticEvery: 3,
  /**
   * One slot kept for another zone. A zone needs about one image's worth
   * from outside over the whole transfer (1/N of what its hosts download),
   * far less than one slot in five per uploader in the other zone.
   */
  farSlots: 1
})

/**
 * The origin unchokes every peer (createOriginChoker). Super-seeding already
 * rations what it sends (a window of revealed chunks per peer, refusals of
 * chunks a peer holds), so upload slots there would only make hosts beyond
 * the ninth wait a rechoke for their first chunk, and a host choked while it
 * had nothing revealed would wait a round trip for UNCHOKE after each reveal.
 * The daemon's uploader always did this; the simulator gave the origin 8
 * slots until session 7, and in its 150 ms scenario half of 16 hosts then got
 * nothing for 2 s (mean host 1.12 -> 1.10 x T_min at N=16, 1.24 -> 1.11 at N=24).
 */
export const ORIGIN_CHOKER_CONFIG: Readonly<Partial<ChokerConfig>> = Object.freeze({
  uploadSlots: Number.MAX_SAFE_INTEGER
})

export const DEFAULT_ORIGIN_CONFIG: Readonly<Required<OriginConfig>> = Object.freeze({
  /**
   * Unsent revealed chunks a peer may hold. It must cover the peer's request
   * pipeline (initialPipeline 4, more on fast links) or a lone host would
   * wait a round trip per chunk; each slot is refilled as soon as its chunk
   * is sent, so the window bounds hoarding, not speed.
   */
  revealWindow: 8,
  /**
   * A chunk the origin sends into another zone crosses the boundary twice
   * (out, then back to the origin's zone), so while hosts of the origin's
   * own zone still need chunks, other zones get theirs through them (each
   * chunk crosses once). With no host left in the origin's zone that needs
   * anything, other zones get the full window.
   */
  farRevealWindow: 0,
  /**
   * A peer asks for a revealed chunk within a round trip plus its queue (ms
   * on a LAN). 3 s without a request means it is stuck; only then is the
   * chunk shown to someone else, so duplicates from the origin stay rare.
   */
  staleRevealMs: 3_000,
  /**
   * HAVEs queue behind chunk data on busy links: in the 16-host cluster
   * (64 MiB, 50/500 Mbit/s) sockets held 0.5-0.9 MB unsent, about a second at
   * the rate each link gets. Revealed at once, 83 chunks other hosts already
   * held were asked of the front-end again in the 3 s after its first pass.
   */
  heldRevealDelayMs: 1_500,
  /**
   * The hosts of one deployment start their pulls within a few hundred ms of
   * each other (the cluster saw the last of 24 links up 0.5-1 s after the
   * first). Full service granted to the first hosts would reveal everything
   * to them for good; a second of super-seeding costs a small deployment
   * nothing, since each host gets fresh chunks at its full rate meanwhile.
   */
  fullServiceSettleMs: 1_000,
  /**
   * Refuse a chunk as soon as one peer holds it (or it is on its way to one).
   * Cluster, 64 MiB (FINDINGS session 3, H): serving every request, the
   * front-end sent 1.19-1.39 images of chunk data at 16 hosts and 1.32-1.71 at
   * 24; refusing held and in-flight chunks, 1.00-1.07 and 1.03-1.13, with the
   * makespan within the runs' spread. The refused requests were ones hosts
   * made before their peers' HAVEs reached them.
   */
  redirectHolders: 1,
  /**
   * Hosts gain a chunk every 0.1-1 s while they trade (64 MiB at 50 Mbit/s,
   * up to 24 hosts on 2 cores); 5 s without one means the holders are out of
   * its reach (a host limited to a few links, all choking it).
   */
  starvingServeMs: 5_000,
  /**
   * After its first pass the origin shows held chunks to no one, so a host
   * cut off from every holder (it dropped the only one, which lied) was shown
   * nothing and waited for ever. This long without a chunk, it is shown and
   * served everything. Not sooner: at 24 hosts on 2 cores first chunks come
   * 3-5 s in, and a rescue at 5 s would catch ordinary start-up and send
   * those hosts to the front-end for everything (bench/cluster/FINDINGS.md,
   * session 8 C).
   */
  starvingRevealMs: 15_000
})
