package tool

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Every field the tools' results marshal to JSON has a snake_case name:
// one convention for every command's --json output, the records'
// (record.Commit, sources.FileState) and the log's (wal.SegmentInfo)
// included.
func TestJSONSnakeCase(t *testing.T) {
	for _, v := range []any{StorageInfo{}, DumpEntry{}, DumpSummary{}, VerifyReport{}, CompactStats{}} {
		for _, bad := range nonSnakeFields(reflect.TypeOf(v)) {
			t.Errorf("%T: field %s", v, bad)
		}
	}
}

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// nonSnakeFields returns the JSON fields reachable from t whose names are
// not snake_case, as Type.Field: name. Types that marshal themselves are
// not looked into; map keys are data, not names.
func nonSnakeFields(t reflect.Type) []string {
	var bad []string
	seen := map[reflect.Type]bool{}
	marshaler := reflect.TypeFor[json.Marshaler]()
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
			return
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			walk(t.Elem())
			return
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type) // promoted fields
				continue
			}
			if name == "" {
				name = f.Name
			}
			if !snake.MatchString(name) {
				bad = append(bad, t.String()+"."+f.Name+": "+name)
			}
			walk(f.Type)
		}
	}
	walk(t)
	return bad
}
