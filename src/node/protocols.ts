/** Protocol ids and gossip topics, versioned so a wire change can coexist with old peers. */
export const SWARM_PROTOCOL = '/imgp2p/swarm/1.0.0'
export const MANIFEST_PROTOCOL = '/imgp2p/manifest/1.0.0'
export const ANNOUNCE_TOPIC = '/imgp2p/announce/1'
