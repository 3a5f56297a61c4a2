// bench/host/binarytrees.go - Go's collector on bench/host/gc_bench.c's tree
// workloads, beside Tidemark's core and Boehm's in `make bench`.
//
// One workload a process, named by the argument: bintrees16, bintrees18
// (binary-trees at depths 16 and 18) or gcbench (GCBench's shape: stretch
// tree of depth 18, long-lived tree of depth 16, an array of 500,000 words,
// top-down and bottom-up trees of depth 4..16). Nodes are 32 bytes, two
// pointers and two words, as in the C workloads, and the trees are made on
// one goroutine: GOMAXPROCS decides only how many Ps the runtime's own
// collector may use beside it (tools/bench.py runs GOMAXPROCS=1 and 2 with
// GODEBUG=gctrace=1, and reads cycles, pauses and the peak heap from the
// trace on stderr). Each prints one line:
//
//	bench: gc.<workload> alloc=go<GOMAXPROCS> total_ns=<ns> live_bytes=<B>
//
// live_bytes is the heap a forced collection finds after the timed part,
// with the workload's long-lived data still held (its trace line says
// "(forced)", which the harness counts for the peak only).
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

type node struct {
	left, right *node
	i, j        int64
}

func treeSize(depth uint) int { return 1<<(depth+1) - 1 }

func populate(depth uint, n *node) {
	if depth == 0 {
		return
	}
	n.left = &node{}
	n.right = &node{}
	populate(depth-1, n.left)
	populate(depth-1, n.right)
}

func makeTree(depth uint) *node {
	n := &node{}
	if depth > 0 {
		n.left = makeTree(depth - 1)
		n.right = makeTree(depth - 1)
	}
	return n
}

func check(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + check(n.left) + check(n.right)
}

// What the workloads keep outside their stacks.
var (
	longLived *node
	array     []uint64
)

func require(ok bool, what string) {
	if !ok {
		fmt.Fprintf(os.Stderr, "binarytrees: %s\n", what)
		os.Exit(1)
	}
}

func gcbench() {
	const stretch, longLivedDepth, arrayWords, minDepth, maxDepth = 18, 16, 500000, 4, 16
	require(check(makeTree(stretch)) == treeSize(stretch), "stretch tree")
	longLived = &node{}
	populate(longLivedDepth, longLived)
	array = make([]uint64, arrayWords)
	for i := 0; i < arrayWords/2; i++ {
		array[i] = uint64(i)
	}
	for d := uint(minDepth); d <= maxDepth; d += 2 {
		iters := 2 * treeSize(stretch) / treeSize(d)
		for k := 0; k < iters; k++ {
			t := &node{}
			populate(d, t)
			b := makeTree(d)
			if k == 0 {
				require(check(t) == treeSize(d) && check(b) == treeSize(d), "gcbench trees")
			}
		}
	}
	require(check(longLived) == treeSize(longLivedDepth) && array[1000] == 1000, "gcbench live set")
}

func bintrees(max uint) {
	const min = 4
	require(check(makeTree(max+1)) == treeSize(max+1), "stretch tree")
	longLived = makeTree(max)
	for d := uint(min); d <= max; d += 2 {
		iters := 1 << (max - d + min)
		sum := 0
		for k := 0; k < iters; k++ {
			sum += check(makeTree(d))
		}
		require(sum == iters*treeSize(d), "binary-trees sum")
	}
	require(check(longLived) == treeSize(max), "binary-trees long-lived tree")
}

func main() {
	workloads := map[string]func(){
		"gcbench":    gcbench,
		"bintrees16": func() { bintrees(16) },
		"bintrees18": func() { bintrees(18) },
	}
	if len(os.Args) != 2 || workloads[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: binarytrees gcbench|bintrees16|bintrees18")
		os.Exit(2)
	}
	t0 := time.Now()
	workloads[os.Args[1]]()
	total := time.Since(t0)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("bench: gc.%s alloc=go%d total_ns=%d live_bytes=%d\n", os.Args[1],
		runtime.GOMAXPROCS(0), total.Nanoseconds(), ms.HeapAlloc)
	runtime.KeepAlive(longLived)
	runtime.KeepAlive(array)
}
