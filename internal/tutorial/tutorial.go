// Package tutorial builds the persistence tutorial's pipeline for the
// project's tests and benchmarks: accesses (user_id, access_time) read
// from CSV files, grouped into per-user sessions, one row per session.
// examples/sessions writes the same pipeline out, as a user would.
package tutorial

import "github.com/pwlog/pwlog"

// Sessions adds to p the source "accesses" reading input, the session
// window "sessions" (gaps under maxGap seconds) and the reduce
// "session_stats", and returns the reduce's table: user_id,
// session_length, session_start, session_finish, count. opts tune the
// source (pwlog.Pipeline.ReadCSV).
func Sessions(p *pwlog.Pipeline, input string, maxGap int64, opts ...pwlog.FileOptions) *pwlog.Table {
	return p.ReadCSV("accesses", input, pwlog.Schema{
		{Name: "user_id", Type: pwlog.TypeStr},
		{Name: "access_time", Type: pwlog.TypeInt},
	}, opts...).
		WindowBy("sessions", pwlog.Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: maxGap}).
		Reduce("session_stats",
			pwlog.Out("user_id", pwlog.Col("user_id")),
			pwlog.Out("session_length", pwlog.Sub(pwlog.Max("access_time"), pwlog.Min("access_time"))),
			pwlog.Out("session_start", pwlog.Min("access_time")),
			pwlog.Out("session_finish", pwlog.Max("access_time")),
			pwlog.Out("count", pwlog.Count()),
		)
}
