package checkpoint

// bloom is a Bloom filter over a run's group names, 10 bits per group and
// 6 probes: about 1% false positives. Probes use double hashing of a
// 64-bit FNV-1a hash, so a filter reads the same in every process.
type bloom struct {
	bits []byte
	k    int
}

const bloomBitsPerKey = 10

func newBloom(groups int) *bloom {
	n := min(max(groups*bloomBitsPerKey, 64), 1<<31)
	return &bloom{bits: make([]byte, (n+7)/8), k: 6}
}

func bloomHash(s string) (uint32, uint32) {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return uint32(h), uint32(h>>32) | 1
}

func (b *bloom) add(s string) {
	h1, h2 := bloomHash(s)
	n := uint32(len(b.bits) * 8)
	for i := 0; i < b.k; i++ {
		p := (h1 + uint32(i)*h2) % n
		b.bits[p/8] |= 1 << (p % 8)
	}
}

// mayHold reports whether s may have been added to the filter of bits
// with k probes; false is certain.
func mayHold(bits []byte, k int, s string) bool {
	if len(bits) == 0 {
		return true
	}
	h1, h2 := bloomHash(s)
	n := uint32(len(bits) * 8)
	for i := 0; i < k; i++ {
		p := (h1 + uint32(i)*h2) % n
		if bits[p/8]&(1<<(p%8)) == 0 {
			return false
		}
	}
	return true
}
