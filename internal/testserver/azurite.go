//go:build linux

package testserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// AzuriteVersion is the version of Azurite (the Azure Storage emulator,
// an npm package) the tests run against.
const AzuriteVersion = "3.35.0"

// The development account every Azurite has.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azure is a running Azurite blob service.
type Azure struct {
	// ConnectionString reaches the server's development account.
	ConnectionString string
}

// azurite is the server of this test process.
var azurite struct {
	once sync.Once
	srv  *Azure
	err  error
}

// Azurite returns the Azurite blob service of this test process, which
// the first call installs (npm install into CacheDir, once for all test
// processes) and starts on 127.0.0.1; it runs until the process exits. It
// fails t if Azurite cannot be installed or started.
func Azurite(t testing.TB) *Azure {
	t.Helper()
	azurite.once.Do(func() { azurite.srv, azurite.err = startAzurite() })
	if azurite.err != nil {
		t.Fatal(azurite.err)
	}
	return azurite.srv
}

// containerSeq numbers the containers NewContainer creates.
var containerSeq atomic.Int64

// NewContainer creates a new empty container, deleted when t ends, and
// returns its name.
func (a *Azure) NewContainer(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%d", os.Getpid(), containerSeq.Add(1))
	client, err := a.client()
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewContainerClient(name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("testserver: create container %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.Delete(ctx, nil); err != nil {
			t.Errorf("testserver: delete container %s: %v", name, err)
		}
	})
	return name
}

// Env returns the environment variables that point a child process at the
// server: AZURE_STORAGE_CONNECTION_STRING.
func (a *Azure) Env() []string {
	return []string{"AZURE_STORAGE_CONNECTION_STRING=" + a.ConnectionString}
}

// client returns a client of the server's account.
func (a *Azure) client() (*service.Client, error) {
	opts := &service.ClientOptions{}
	opts.Retry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 100 * time.Millisecond}
	return service.NewClientFromConnectionString(a.ConnectionString, opts)
}

// startAzurite installs Azurite if need be and starts azurite-blob on a
// free port, trying another port if one was taken meanwhile.
func startAzurite() (*Azure, error) {
	bin, err := installAzurite()
	if err != nil {
		return nil, err
	}
	location, err := runDir("azurite")
	if err != nil {
		return nil, err
	}
	var errs []error
	for range 3 {
		a, err := startAzuriteOn(bin, location)
		if err == nil {
			return a, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// startAzuriteOn starts azurite-blob on a free port with its data in
// location and checks that it answers.
func startAzuriteOn(bin, location string) (*Azure, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p, err := Start(nil, time.Minute, port, bin,
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--location", location,
		"--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose")
	if err != nil {
		return nil, err
	}
	a := &Azure{ConnectionString: fmt.Sprintf(
		"DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/%s;",
		azuriteAccount, azuriteKey, port, azuriteAccount)}
	// Another program may have taken the port between FreePort and the
	// start: ask the server something only Azurite answers.
	client, err := a.client()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = client.NewListContainersPager(nil).NextPage(ctx)
		cancel()
	}
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("testserver: azurite on port %d does not answer: %w\n%s", port, err, p.Output())
	}
	return a, nil
}

// installAzurite installs Azurite into CacheDir()/azurite unless that
// version is there, and returns the path of azurite-blob.
func installAzurite() (string, error) {
	var bin string
	err := withInstallLock("azurite", func(cache string) error {
		dir := filepath.Join(cache, "azurite")
		bin = filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
		if exists(bin) && installedVersion(dir) == AzuriteVersion {
			return nil
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		err := run(ctx, dir, nil, "npm", "install", "--prefix", dir,
			"--no-audit", "--no-fund", "--save-exact", "azurite@"+AzuriteVersion)
		if err != nil {
			return fmt.Errorf("testserver: install azurite %s: %w", AzuriteVersion, err)
		}
		if !exists(bin) {
			return fmt.Errorf("testserver: npm installed azurite %s but there is no %s", AzuriteVersion, bin)
		}
		return nil
	})
	return bin, err
}

// installedVersion is the version of the azurite package installed under
// dir, or "".
func installedVersion(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", "azurite", "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct{ Version string }
	if json.Unmarshal(data, &pkg) != nil {
		return ""
	}
	return pkg.Version
}
