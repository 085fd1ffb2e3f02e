package measure

import (
	"errors"
	"fmt"
	"io"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
	"github.com/pwlog/pwlog/sources"
)

// Stream is the state-update stream of the tutorial pipeline over a data
// set: per logical time (at most BatchRows input rows, as the engine
// batches them), the deltas of each arrangement that changed, exactly
// what the engine logs as StateRecords. It is computed with package
// operators, once, in memory.
type Stream struct {
	Batches []StreamBatch
	Updates int // total deltas: the sum of every StateDelta's Deltas.Len()
	Rows    int // input rows
}

// StreamBatch is one logical time of a Stream.
type StreamBatch struct {
	Time   uint64
	States []StateDelta
}

// StateDelta is what one arrangement changed at a time: the body of one
// record.State.
type StateDelta struct {
	Operator, Arrangement string
	Deltas                differential.Deltas
}

// NewStream runs the tutorial pipeline's operators over the CSV files in
// dir the way the engine's run loop does: the source "accesses" reads at
// most batchRows rows per logical time (sources.CSVDir, so row keys and
// file order are the engine's), the rows are consolidated and stepped
// through the session window and the reduce, and each arrangement's
// TakeDeltas becomes a StateDelta when not empty. Logical times are
// 1, 2, 3... instead of the engine's wall-clock milliseconds; deltas
// carry no time, so they are the same. batchRows <= 0 means the engine's
// default, 65536.
func NewStream(dir string, batchRows int) (*Stream, error) {
	if batchRows <= 0 {
		batchRows = 1 << 16
	}
	win, red, err := tutorialOperators()
	if err != nil {
		return nil, err
	}
	src := &sources.CSVDir{Name: "accesses", Dir: dir, Schema: differential.Schema{
		{Name: "user_id", Type: differential.KindString}, {Name: "access_time", Type: differential.KindInt}}}
	r, err := src.Open(nil)
	if err != nil {
		return nil, fmt.Errorf("measure: stream: %w", err)
	}
	defer r.Close()
	s := &Stream{}
	for t := uint64(1); ; t++ {
		rows, states, err := r.Next(batchRows)
		if errors.Is(err, io.EOF) {
			return s, nil
		} else if err != nil {
			return nil, fmt.Errorf("measure: stream: %w", err)
		}
		if len(rows) == 0 && len(states) == 0 {
			continue
		}
		for i := range rows {
			rows[i].Time = t
		}
		s.Rows += len(rows)
		out := differential.Consolidate(rows)
		b := StreamBatch{Time: t}
		for _, op := range []operators.Operator{win, red} {
			if out, err = op.Step(t, [][]differential.Update{out}); err != nil {
				return nil, fmt.Errorf("measure: stream: time %d: %w", t, err)
			}
			out = differential.Consolidate(out)
			for _, a := range op.Arrangements() {
				if d := a.TakeDeltas(); d.Len() > 0 {
					b.States = append(b.States, StateDelta{Operator: op.Name(), Arrangement: a.Name(), Deltas: d})
					s.Updates += d.Len()
				}
			}
		}
		s.Batches = append(s.Batches, b)
	}
}

// apply replays the whole stream into fresh arrangements of the tutorial's
// operators: the state the stream leaves.
func (s *Stream) apply() (map[compaction.ArrKey]*differential.Arrangement, error) {
	arrs, err := freshArrangements()
	if err != nil {
		return nil, err
	}
	for _, b := range s.Batches {
		for _, st := range b.States {
			a := arrs[compaction.ArrKey{Operator: st.Operator, Arrangement: st.Arrangement}]
			if a == nil {
				return nil, fmt.Errorf("measure: stream holds state of %s/%s, which the tutorial does not have", st.Operator, st.Arrangement)
			}
			a.Apply(st.Deltas)
		}
	}
	return arrs, nil
}
