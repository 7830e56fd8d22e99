/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Announcements: the operations a KVM user made, written to
 * /sys/kernel/tracing/trace_marker after each one returned, so that the
 * conformance checker can verify their effect on the page tables it
 * reconstructs (docs/trace-format.md "Announced operations",
 * docs/conformance.md "Bugs of omission").
 *
 * A plain C header: the capture workload (tools/capture/workload.c, C,
 * linked statically for the guest) writes the lines with these formats and
 * conform/ftrace.cpp reads them with the very same strings, so the format is
 * written once.  Each format is the operation's name followed by "label
 * conversion" pairs: %u and %llu are decimal, %x and %llx hexadecimal
 * (without 0x), %s one of the words the documentation lists.
 */
#ifndef ARBORIST_CONFORM_ANNOUNCE_H
#define ARBORIST_CONFORM_ANNOUNCE_H

/* The payload of the tracing_mark_write line starts with this. */
#define ARBORIST_OP_PREFIX "arborist-op: "

/* KVM_SET_USER_MEMORY_REGION that created a memslot. */
#define ARBORIST_OP_MEMSLOT_ADD "memslot-add vm %u as %u slot %u gfn %llx pages %llu flags %x"
/* ... that deleted one (memory_size 0): gfn and pages are the slot's. */
#define ARBORIST_OP_MEMSLOT_DELETE "memslot-delete vm %u as %u slot %u gfn %llx pages %llu"
/* ... that moved one to gfn from old_gfn. */
#define ARBORIST_OP_MEMSLOT_MOVE "memslot-move vm %u as %u slot %u gfn %llx pages %llu old_gfn %llx"
/* ... that changed its flags (KVM_MEM_LOG_DIRTY_PAGES on or off). */
#define ARBORIST_OP_MEMSLOT_FLAGS \
	"memslot-flags vm %u as %u slot %u gfn %llx pages %llu flags %x old_flags %x dirty_mode %s"
/* madvise(MADV_DONTNEED) or munmap() of host memory that backs gfn..gfn+pages-1. */
#define ARBORIST_OP_UNMAP "unmap vm %u as %u gfn %llx pages %llu hva %llx how %s"
/* KVM_GET_DIRTY_LOG of a slot. */
#define ARBORIST_OP_DIRTY_LOG_GET "dirty-log-get vm %u as %u slot %u gfn %llx pages %llu dirty_mode %s"
/* KVM_CLEAR_DIRTY_LOG of gfn..gfn+pages-1 of a slot, every bit of the bitmap set. */
#define ARBORIST_OP_DIRTY_LOG_CLEAR "dirty-log-clear vm %u as %u slot %u gfn %llx pages %llu dirty_mode %s"
/* close() of the VM's last file descriptor: its memslots are gone. */
#define ARBORIST_OP_VM_DESTROY "vm-destroy vm %u"

/* dirty_mode: how the VM's dirty log protects pages (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2). */
#define ARBORIST_DIRTY_MODE_WRPROT "wrprot"            /* the capability off: GET write-protects */
#define ARBORIST_DIRTY_MODE_MANUAL "manual"            /* KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE */
#define ARBORIST_DIRTY_MODE_MANUAL_INIT_SET "manual-initially-set" /* ... | KVM_DIRTY_LOG_INITIALLY_SET */

/* how: the call that unmapped the host range. */
#define ARBORIST_UNMAP_DONTNEED "madv-dontneed"
#define ARBORIST_UNMAP_MUNMAP "munmap"

#endif
