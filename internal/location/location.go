// Package location turns the storage locations users write (a
// directory, s3://BUCKET/PREFIX, azure://CONTAINER/PREFIX) into
// backends. The engine (pwlog.Storage), the example programs and the
// CLI's tools all read them through it, so they accept the same ones.
package location

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/azure"
	"github.com/pwlog/pwlog/backend/s3"
)

// Remote reports whether loc names a storage in an object store rather
// than a local directory.
func Remote(loc string) bool {
	scheme, _, ok := strings.Cut(loc, "://")
	return ok && scheme != "file"
}

// Open returns the backend of the storage loc names, without a request:
//
//   - s3://BUCKET/PREFIX: S3, configured by the AWS SDK's environment
//     (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
//     AWS_REGION, AWS_ENDPOINT_URL for a server other than AWS);
//   - azure://CONTAINER/PREFIX: Azure Blob, configured by
//     AZURE_STORAGE_CONNECTION_STRING;
//   - file://PATH or a plain path: a local directory.
//
// PREFIX may be empty: the storage is then the whole bucket or
// container.
func Open(loc string) (backend.Backend, error) {
	scheme, rest, ok := strings.Cut(loc, "://")
	if !ok {
		if loc == "" {
			return nil, fmt.Errorf("pwlog: empty storage location")
		}
		return backend.FilesystemAt(loc), nil
	}
	switch scheme {
	case "file":
		if rest == "" {
			return nil, fmt.Errorf("pwlog: storage %q: no path", loc)
		}
		return backend.FilesystemAt(filepath.FromSlash(rest)), nil
	case "s3":
		bucket, prefix := split(rest)
		if bucket == "" {
			return nil, fmt.Errorf("pwlog: storage %q: no bucket (s3://BUCKET/PREFIX)", loc)
		}
		b, err := s3.New(bucket, prefix, s3.OptionsFromEnv())
		if err != nil {
			return nil, fmt.Errorf("pwlog: storage %q: %w", loc, err)
		}
		return b, nil
	case "azure":
		container, prefix := split(rest)
		if container == "" {
			return nil, fmt.Errorf("pwlog: storage %q: no container (azure://CONTAINER/PREFIX)", loc)
		}
		b, err := azure.New(container, prefix, azure.OptionsFromEnv())
		if err != nil {
			return nil, fmt.Errorf("pwlog: storage %q: %w", loc, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("pwlog: storage %q: unknown scheme %q (a directory, s3://BUCKET/PREFIX or azure://CONTAINER/PREFIX)", loc, scheme)
}

// split returns the bucket and the prefix of "BUCKET/PREFIX".
func split(rest string) (bucket, prefix string) {
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/")
}

// LocalPath returns the directory of a file://PATH location, and any
// other location as it is.
func LocalPath(loc string) string {
	if rest, ok := strings.CutPrefix(loc, "file://"); ok && rest != "" {
		return filepath.FromSlash(rest)
	}
	return loc
}
