package wal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/pwlog/pwlog/wal"
)

func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	// A batch ends with a commit record; Append returns once it is durable.
	last, err := l.Append([]wal.Record{
		{Kind: 2, Data: []byte("state delta")},
		{Kind: wal.KindCommit, Data: []byte("time 1")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("last LSN:", last, "durable:", l.DurableLSN())
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	l, err = wal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	err = l.Replay(l.FirstLSN(), func(r wal.Record) error {
		fmt.Printf("%d kind %d %s\n", r.LSN, r.Kind, r.Data)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// last LSN: 2 durable: 2
	// 1 kind 2 state delta
	// 2 kind 1 time 1
}
