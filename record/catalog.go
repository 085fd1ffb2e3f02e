package record

import (
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
)

// Catalog names the columns of the rows a storage holds, so that tools
// (pwlog dump) show them by name. It is logged with the fingerprint and
// kept in checkpoints; a change that keeps the fingerprint (a sink added)
// is logged again, not refused.
type Catalog struct {
	// Tables maps a source or a sink to the column names of its rows.
	Tables map[string][]string `msgpack:"t,omitempty" json:"tables,omitempty"`
	// Arrangements maps ArrangementKey(operator, arrangement) to the
	// column names of its group keys and rows.
	Arrangements map[string]differential.Columns `msgpack:"a,omitempty" json:"arrangements,omitempty"`
	// Dirs maps a CSV source to the directory it reads: absolute, its
	// symbolic links resolved. A restart that reads a source from another
	// directory is refused unless told that the files moved. Nil in a
	// storage written before directories were recorded: its next commit
	// records them.
	Dirs map[string]string `msgpack:"d,omitempty" json:"dirs,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder: maps in key order.
func (c *Catalog) EncodeMsgpack(enc *msgpack.Encoder) error {
	type wire struct {
		Tables       msgpackx.SortedMap[[]string]             `msgpack:"t,omitempty"`
		Arrangements msgpackx.SortedMap[differential.Columns] `msgpack:"a,omitempty"`
		Dirs         msgpackx.SortedMap[string]               `msgpack:"d,omitempty"`
	}
	return enc.Encode(&wire{c.Tables, c.Arrangements, c.Dirs})
}

// Equal reports whether c and o name the same columns and directories.
func (c *Catalog) Equal(o *Catalog) bool {
	if c == nil || o == nil {
		return c == o
	}
	return maps.EqualFunc(c.Tables, o.Tables, slices.Equal) &&
		maps.EqualFunc(c.Arrangements, o.Arrangements, func(a, b differential.Columns) bool {
			return slices.Equal(a.Group, b.Group) && slices.Equal(a.Row, b.Row)
		}) &&
		maps.Equal(c.Dirs, o.Dirs)
}

// Knows reports whether the catalog names the arrangement; a catalog
// without arrangements (nil, or from a storage written before they were
// catalogued) knows every one.
func (c *Catalog) Knows(operator, arrangement string) bool {
	if c == nil || c.Arrangements == nil {
		return true
	}
	_, ok := c.Arrangements[ArrangementKey(operator, arrangement)]
	return ok
}

// ArrangementKey is the key of an arrangement in Catalog.Arrangements:
// "operator/arrangement".
func ArrangementKey(operator, arrangement string) string { return operator + "/" + arrangement }
