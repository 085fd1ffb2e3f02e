package fuzz

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// change is a data line of an append-mode CSV changelog: the row (in its
// canonical text), the time and the diff.
type change struct {
	row  string
	time uint64
	diff int64
}

// parseChangelog parses a CSV changelog's bytes (from its header) whose
// table has columns cols; partial cuts at the first incomplete line.
func parseChangelog(b []byte, cols []colInfo) ([]change, error) {
	s := string(b)
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return nil, nil
	}
	var names []string
	for _, c := range cols {
		names = append(names, csvHeaderName(c.name))
	}
	if want := strings.Join(append(names, "time", "diff"), ","); s[:nl] != want {
		return nil, fmt.Errorf("header %q, want %q", s[:nl], want)
	}
	var out []change
	for i, line := range strings.Split(strings.TrimSuffix(s[nl+1:], "\n"), "\n") {
		if line == "" {
			continue
		}
		c, err := parseChange(line, cols)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", i+2, line, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func csvHeaderName(n string) string {
	if strings.ContainsAny(n, ",\"\n\r") {
		return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
	}
	return n
}

// parseChange parses one data line: every field by its column's kind (a
// quoted field is a string, an empty one null), then time and diff.
func parseChange(line string, cols []colInfo) (change, error) {
	var fields []string
	var quoted []bool
	for i := 0; ; {
		if i < len(line) && line[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(line[j:], '"')
				if k < 0 {
					return change{}, fmt.Errorf("unclosed quote")
				}
				b.WriteString(line[j : j+k])
				j += k + 1
				if j < len(line) && line[j] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				break
			}
			fields, quoted = append(fields, b.String()), append(quoted, true)
			i = j
		} else {
			k := strings.IndexByte(line[i:], ',')
			if k < 0 {
				k = len(line) - i
			}
			fields, quoted = append(fields, line[i:i+k]), append(quoted, false)
			i += k
		}
		if i == len(line) {
			break
		}
		if line[i] != ',' {
			return change{}, fmt.Errorf("a quoted field followed by %q", line[i])
		}
		i++
	}
	if len(fields) != len(cols)+2 {
		return change{}, fmt.Errorf("%d fields, want %d", len(fields), len(cols)+2)
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		if c.kind == differential.KindTuple && quoted[i] {
			parts[i] = tupleText(fields[i])
			continue
		}
		v, err := parseField(fields[i], quoted[i], c.kind)
		if err != nil {
			return change{}, fmt.Errorf("column %s: %w", c.name, err)
		}
		parts[i] = valueText(v)
	}
	tm, err1 := strconv.ParseUint(fields[len(cols)], 10, 64)
	diff, err2 := strconv.ParseInt(fields[len(cols)+1], 10, 64)
	if err1 != nil || err2 != nil {
		return change{}, fmt.Errorf("bad time or diff")
	}
	return change{row: "(" + strings.Join(parts, ", ") + ")", time: tm, diff: diff}, nil
}

func parseField(s string, quoted bool, k differential.Kind) (differential.Value, error) {
	if quoted {
		if k != differential.KindString {
			return differential.Value{}, fmt.Errorf("a quoted %s %q", k, s)
		}
		return differential.String(s), nil
	}
	if s == "" {
		return differential.Null(), nil
	}
	switch k {
	case differential.KindInt:
		n, err := strconv.ParseInt(s, 10, 64)
		return differential.Int(n), err
	case differential.KindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && (s == "nan" || s == "NaN") {
			return differential.Float(math.NaN()), nil
		}
		return differential.Float(f), err
	case differential.KindBool:
		switch s {
		case "True":
			return differential.Bool(true), nil
		case "False":
			return differential.Bool(false), nil
		}
	}
	return differential.Value{}, fmt.Errorf("%s %q", k, s)
}

// consolidate sums the changes' diffs per row.
func consolidate(cs []change) multiset {
	m := multiset{}
	for _, c := range cs {
		m[c.row] += c.diff
	}
	for k, n := range m {
		if n == 0 {
			delete(m, k)
		}
	}
	return m
}
