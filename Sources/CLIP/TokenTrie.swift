/// Token sequences laid out as a trie, cut into chunks of at most `maxRows` nodes: the text
/// tower's unit of work.
///
/// Why: attention in CLIP's text tower is causal, so the hidden state of a token at every layer
/// depends only on the tokens up to it. Two prompts that start with the same tokens (every
/// NegMining prompt starts with its template, "The nice …" or "This is a …", and many WordNet
/// words share their first word pieces) have the same hidden states, keys and values over that
/// prefix. Each distinct prefix is one node here and is computed once; a node attends to the
/// path from the root to itself, which is exactly the causal context of that token in every
/// sequence through it. For the ImageNet NegMining prompts this is 268,767 nodes for 553,657
/// tokens.
///
/// Sequences are sorted by their tokens (ties by input order), so neighbours share the longest
/// prefixes; a chunk closes before a sequence whose new nodes would not fit, and the next chunk
/// starts that sequence from its root (prefixes are shared within a chunk only). Nodes are in
/// depth-first order: a node's parent always comes before it.
struct TokenTrie: Equatable {
    /// One chunk's nodes and the sequences that end in it.
    struct Chunk: Equatable {
        /// Token id of each node.
        var tokens: [Int] = []
        /// Position of each node in its sequences (its depth, from 0).
        var positions: [Int] = []
        /// The nodes each node attends to, root first and itself last: `ancestors[ancestorStart[i] ..< ancestorStart[i + 1]]`.
        var ancestors: [Int32] = []
        var ancestorStart: [Int] = [0]
        /// The input sequences that end in this chunk and the node each one is pooled at (its last token).
        var sequences: [Int] = []
        var pooledNodes: [Int] = []

        var count: Int { tokens.count }

        /// The path of node `i` (root first, `i` last).
        func path(_ i: Int) -> ArraySlice<Int32> { ancestors[ancestorStart[i] ..< ancestorStart[i + 1]] }

        mutating func append(token: Int, position: Int, parent: Int?) {
            let index = tokens.count
            tokens.append(token)
            positions.append(position)
            if let parent { ancestors += path(parent) }
            ancestors.append(Int32(index))
            ancestorStart.append(ancestors.count)
        }

        /// Appends lone root nodes (token 0 at position 0, pooled by no sequence) up to a multiple
        /// of `quantum` nodes.
        mutating func pad(toMultipleOf quantum: Int) {
            while count % quantum != 0 { append(token: 0, position: 0, parent: nil) }
        }
    }

    var chunks: [Chunk]

    /// `sequences` are the token ids each sequence is encoded over (up to and including its
    /// pooled token, never empty). A chunk may exceed `maxRows` only for a single sequence longer
    /// than that.
    init(_ sequences: [[Int]], maxRows: Int) {
        let order = sequences.indices.sorted { a, b in
            let (x, y) = (sequences[a], sequences[b])
            for (s, t) in zip(x, y) where s != t { return s < t }
            return (x.count, a) < (y.count, b)
        }
        var chunks: [Chunk] = []
        var chunk = Chunk()
        var previous: [Int] = []   // the tokens of the chunk's previous sequence
        var path: [Int] = []       // its nodes, by depth
        for index in order {
            let seq = sequences[index]
            var shared = 0
            while shared < min(seq.count, previous.count), seq[shared] == previous[shared] { shared += 1 }
            // An identical sequence ends at the same node (its path is the previous one's).
            if shared == seq.count {
                chunk.sequences.append(index)
                chunk.pooledNodes.append(path[seq.count - 1])
                continue
            }
            if chunk.count > 0, chunk.count + seq.count - shared > maxRows {
                chunks.append(chunk)
                chunk = Chunk()
                shared = 0
            }
            path.removeLast(path.count - shared)
            for depth in shared ..< seq.count {
                path.append(chunk.count)
                chunk.append(token: seq[depth], position: depth, parent: depth > 0 ? path[depth - 1] : nil)
            }
            chunk.sequences.append(index)
            chunk.pooledNodes.append(path[seq.count - 1])
            previous = seq
        }
        if chunk.count > 0 { chunks.append(chunk) }
        self.chunks = chunks
    }
}
