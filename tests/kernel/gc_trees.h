/*
 * tests/kernel/gc_trees.h - GCBench's trees (Ellis, Kovac and Boehm), on
 * gc_alloc, for the collector's tests and benchmark alike: a tree built
 * top-down into a node already allocated (gc_tree_populate), one built
 * bottom-up (gc_tree_make), and the count of nodes reachable from a root.
 * An allocation that fails leaves its subtree out and is counted in
 * gc_tree_nulls, so a caller checks either that count or the tree's size.
 */
#ifndef TESTS_KERNEL_GC_TREES_H
#define TESTS_KERNEL_GC_TREES_H

#include <stdint.h>

#include "mm/gc.h"

struct tnode {
	struct tnode *left, *right;
	uint64_t i, j;
};

static unsigned gc_tree_nulls;

static inline unsigned gc_tree_size(unsigned depth) { return (1u << (depth + 1)) - 1; }

static inline struct tnode *gc_tree_node(void)
{
	struct tnode *n = gc_alloc(sizeof(*n));
	if (!n)
		gc_tree_nulls++;
	return n;
}

static inline void gc_tree_populate(unsigned depth, struct tnode *n)
{
	if (depth == 0 || !n)
		return;
	n->left = gc_tree_node();
	n->right = gc_tree_node();
	gc_tree_populate(depth - 1, n->left);
	gc_tree_populate(depth - 1, n->right);
}

static inline struct tnode *gc_tree_make(unsigned depth)
{
	struct tnode *n = gc_tree_node();
	if (n && depth > 0) {
		n->left = gc_tree_make(depth - 1);
		n->right = gc_tree_make(depth - 1);
	}
	return n;
}

static inline unsigned gc_tree_count(const struct tnode *n)
{
	return n ? 1 + gc_tree_count(n->left) + gc_tree_count(n->right) : 0;
}

#endif
