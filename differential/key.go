package differential

// Key identifies a row of a table: a stable 64-bit FNV-1a hash of the
// row's identity (its primary-key values, or its source, file and
// position). Keys are persisted; the hash must never change.
type Key uint64

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Hasher builds a Key from parts. The zero Hasher is not ready: use NewHasher.
type Hasher struct{ h uint64 }

// NewHasher returns a Hasher seeded with a domain string, so that keys of
// different tables or sources do not collide by construction.
func NewHasher(domain string) Hasher {
	h := Hasher{h: fnvOffset}
	h.String(domain)
	return h
}

// Bytes mixes b, length-prefixed, into the hash.
func (h *Hasher) Bytes(b []byte) {
	h.Uint64(uint64(len(b)))
	x := h.h
	for _, c := range b {
		x ^= uint64(c)
		x *= fnvPrime
	}
	h.h = x
}

// String mixes s, length-prefixed, into the hash.
func (h *Hasher) String(s string) {
	h.Uint64(uint64(len(s)))
	x := h.h
	for i := 0; i < len(s); i++ {
		x ^= uint64(s[i])
		x *= fnvPrime
	}
	h.h = x
}

// Uint64 mixes the 8 bytes of v into the hash.
func (h *Hasher) Uint64(v uint64) {
	x := h.h
	for i := 0; i < 8; i++ {
		x ^= v & 0xff
		x *= fnvPrime
		v >>= 8
	}
	h.h = x
}

// Key returns the hash so far.
func (h Hasher) Key() Key { return Key(h.h) }

// HashBytes returns the Key of b in a domain.
func HashBytes(domain string, b []byte) Key {
	h := NewHasher(domain)
	h.Bytes(b)
	return h.Key()
}
