//go:build linux

package pwlog_test

import (
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/testserver"
)

// The real servers, which the tests install and start on Linux.
func init() {
	objectStores = append(objectStores, []objectStore{
		{name: "s3", remote: true, open: func(t *testing.T) (string, []string, backend.Backend) {
			s := testserver.Versitygw(t)
			bucket := s.NewBucket(t)
			b, err := pwlog.S3(bucket, "pipeline", pwlog.S3Options{Endpoint: s.Endpoint, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey})
			if err != nil {
				t.Fatal(err)
			}
			return "s3://" + bucket + "/pipeline", s.Env(), b
		}},
		{name: "azure", remote: true, open: func(t *testing.T) (string, []string, backend.Backend) {
			a := testserver.Azurite(t)
			container := a.NewContainer(t)
			b, err := pwlog.Azure(container, "pipeline", pwlog.AzureOptions{ConnectionString: a.ConnectionString})
			if err != nil {
				t.Fatal(err)
			}
			return "azure://" + container + "/pipeline", a.Env(), b
		}},
	}...)
	benchStores = append(benchStores, []benchStore{
		{"s3-versitygw", func(b *testing.B) backend.Backend {
			s := testserver.Versitygw(b)
			st, err := pwlog.S3(s.NewBucket(b), "bench", pwlog.S3Options{Endpoint: s.Endpoint, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey})
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
		{"azure-azurite", func(b *testing.B) backend.Backend {
			a := testserver.Azurite(b)
			st, err := pwlog.Azure(a.NewContainer(b), "bench", pwlog.AzureOptions{ConnectionString: a.ConnectionString})
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
	}...)
}
