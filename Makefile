# The two commands a new user runs: `make demo` (the main job) and `make test`
# (every test). Both install what they need themselves.
GO ?= go

.PHONY: demo test unit bench deps testdata build

build:
	$(GO) build -o bin/gudevd ./cmd/gudevd

test: unit

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
