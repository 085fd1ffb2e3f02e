// Package testserver installs and starts the object-store servers the
// tests run against (versitygw for S3, Azurite for Azure Blob) on
// 127.0.0.1, on ports the kernel picks. A server missing from the machine
// is installed through the toolchain that serves it (go install, npm) into
// a cache directory shared by every test process, under a file lock so
// that test binaries running in parallel install it once.
//
// The servers run on Linux only (the package is empty elsewhere): the
// tests that use it are Linux's.
package testserver
