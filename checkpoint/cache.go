package checkpoint

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Cache keeps decoded blocks of open runs, least recently used first out,
// up to a size in bytes. It is safe for concurrent use; one cache serves
// every run of an execution.
type Cache struct {
	mu       sync.Mutex
	capacity int64
	size     int64
	lru      list.List // of *cacheEntry, most recent in front
	byKey    map[cacheKey]*list.Element

	hits, misses, bytesRead atomic.Int64
}

type cacheKey struct {
	run   uint64 // Run.id: unique per opened run
	block int
}

type cacheEntry struct {
	key cacheKey
	b   *block
}

// CacheStats counts a cache's block lookups and the bytes its runs read
// from their objects (blocks, indexes and filters).
type CacheStats struct {
	Hits, Misses, BytesRead int64
	Size, Capacity          int64 // bytes held now, and the bound
}

// NewCache returns a cache of at most capacity bytes of decoded blocks.
// A capacity of 0 caches nothing (every lookup reads its blocks).
func NewCache(capacity int64) *Cache {
	return &Cache{capacity: max(capacity, 0), byKey: map[cacheKey]*list.Element{}}
}

// Stats returns the counts so far.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	size := c.size
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), BytesRead: c.bytesRead.Load(), Size: size, Capacity: c.capacity}
}

func (c *Cache) get(k cacheKey) *block {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byKey[k]
	if e == nil {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).b
}

func (c *Cache) put(k cacheKey, b *block) {
	if b.size > c.capacity/4 {
		return // a block that would push out much of the cache is not kept
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		return
	}
	c.byKey[k] = c.lru.PushFront(&cacheEntry{key: k, b: b})
	c.size += b.size
	for c.size > c.capacity {
		e := c.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.byKey, ce.key)
		c.size -= ce.b.size
	}
}

// drop removes the blocks of a run that is closed.
func (c *Cache) drop(run uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if ce := e.Value.(*cacheEntry); ce.key.run == run {
			c.lru.Remove(e)
			delete(c.byKey, ce.key)
			c.size -= ce.b.size
		}
		e = next
	}
}
