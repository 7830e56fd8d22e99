// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-workload: drives the TDP MMU of the kernel it runs on through the
// KVM API, one named phase at a time, for `arborist capture` (docs/capture.md).
//
// It runs inside the L1 guest that `arborist capture` boots under QEMU TCG
// with nested SVM/NPT, so /dev/kvm here is the L1 kernel's KVM and every
// SPTE change lands in that kernel's kvmmmu tracepoints.  Before each phase
// it writes "arborist-phase: NAME" to /sys/kernel/tracing/trace_marker (a
// tracing_mark_write line), and "arborist-done: N phases" at the end, so the
// checker can attribute every event to a phase and notice a truncated trace.
//
// The L2 guests are tiny: 32-bit flat protected mode without paging (GPA =
// linear address), one loop that writes (or reads) COUNT pages STRIDE bytes
// apart, PASSES times, then "out 0x10" to return to us.  The phases follow
// the TDP MMU paths arborist models; docs/capture.md has a table of them,
// with the kernel function each one exercises and what it traces.
//
// After each operation whose effect on the page tables the checker can
// verify -- a memslot added, moved, deleted or its flags changed, host
// memory unmapped under a memslot, a dirty log fetched or cleared, a VM
// closed -- it writes an announcement ("arborist-op: ...", formats in
// conform/announce.h, docs/trace-format.md "Announced operations") once the
// call has returned, so that a zap or a write-protection the kernel
// omitted shows (docs/conformance.md "Bugs of omission").  Two rules keep
// those checks sound:
//   - the main thread, which makes every announced call and writes every
//     announcement, is pinned to one CPU, so the call's kvmmmu events and
//     the announcement come from one CPU's ring buffer, in order, whatever
//     the trace clock; the vCPU threads of VMs c and d may run anywhere;
//   - no vCPU runs during a dirty-log operation or an unmap, since a
//     running vCPU may legitimately make a page writable or map it again
//     right after the call.  The memslot moves of c.zap-while-fill run
//     while vCPU 1 writes another slot, which cannot map the old range.
//
// Build: gcc -static -O2 -pthread (the CMake target arborist-workload).
// Exit status 0 when every phase ran as expected; otherwise a line
// "arborist-workload: error: ..." and exit status 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../conform/announce.h"

#define KiB 1024ul
#define MiB (1024ul * KiB)
#define PAGE 4096ul

#define CODE_GPA 0x1000ul      // in slot 0
#define CODE_WRITE (CODE_GPA)  // the write loop
#define CODE_READ (CODE_GPA + 0x20) // the read loop
#define DONE_PORT 0x10
#define MMIO_GPA 0xd0000000ul  // no memslot here: MMIO

// The guest loops (32-bit code):
//   0: 89 f7     mov  %esi,%edi        ; edi = base
//   2: 89 d9     mov  %ebx,%ecx        ; ecx = count
//   4: 89 07     mov  %eax,(%edi)      ; (read loop: 8b 07  mov (%edi),%eax)
//   6: 01 d7     add  %edx,%edi        ; edi += stride
//   8: 49        dec  %ecx
//   9: 75 f9     jnz  4
//  11: 4d        dec  %ebp             ; passes
//  12: 75 f2     jnz  0
//  14: e6 10     out  %al,$0x10        ; back to userspace
//  16: f4        hlt
static const uint8_t loop_write[] = {0x89, 0xf7, 0x89, 0xd9, 0x89, 0x07, 0x01, 0xd7, 0x49,
				     0x75, 0xf9, 0x4d, 0x75, 0xf2, 0xe6, DONE_PORT, 0xf4};
static const uint8_t loop_read[] = {0x89, 0xf7, 0x89, 0xd9, 0x8b, 0x07, 0x01, 0xd7, 0x49,
				    0x75, 0xf9, 0x4d, 0x75, 0xf2, 0xe6, DONE_PORT, 0xf4};

static int kvm_fd = -1, marker_fd = -1;
static int vcpu_mmap_size;
static int nphases;
static const char* current_phase = "(start)";
static cpu_set_t all_cpus; // the affinity the vCPU threads get (the main thread is pinned)
static unsigned next_vm_id = 1;

static void die(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stdout, "arborist-workload: error: phase %s: ", current_phase);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
	exit(1);
}

static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char* fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("arborist-workload: ", stdout);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

static void mark(const char* text)
{
	size_t n = strlen(text);
	if (write(marker_fd, text, n) != (ssize_t)n)
		die("write to trace_marker: %s", strerror(errno));
}

// An operation has returned: announce it (conform/announce.h).
static void announce(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void announce(const char* fmt, ...)
{
	char buf[256];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "%s", ARBORIST_OP_PREFIX);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	mark(buf);
}

// Start a phase: the marker goes into the ftrace ring buffer before any
// event of the phase, so every later line up to the next marker is its own.
static void phase(const char* name, const char* what)
{
	char buf[256];
	current_phase = name;
	nphases++;
	snprintf(buf, sizeof(buf), "arborist-phase: %s", name);
	mark(buf);
	say("phase %s: %s", name, what);
}

static long xioctl(int fd, unsigned long req, void* arg, const char* name)
{
	long r = ioctl(fd, req, arg);
	if (r < 0)
		die("%s: %s", name, strerror(errno));
	return r;
}
#define IOCTL(fd, req, arg) xioctl((fd), (req), (arg), #req)

// ---- memory and memslots --------------------------------------------------------

struct slot {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint8_t* host;
};

enum backing { BACK_4K, BACK_THP };

// Host memory aligned to 2 MiB, so that a THP-backed slot whose GPA is 2 MiB
// aligned can be mapped with 2M SPTEs (the HVA and GPA must agree modulo
// the huge page size, kvm_mmu_max_mapping_level()).
static uint8_t* host_alloc(uint64_t size, enum backing b)
{
	uint8_t* p = mmap(NULL, size + 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap %lu bytes: %s", (unsigned long)size, strerror(errno));
	uint8_t* a = (uint8_t*)(((uintptr_t)p + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	if (madvise(a, size, b == BACK_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise(%s): %s", b == BACK_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE", strerror(errno));
	return a;
}

static void set_slot(int vm, const struct slot* s, uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = s->id,
		.flags = s->flags,
		.guest_phys_addr = s->gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)s->host,
	};
	IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

// How the VM's dirty log protects pages (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).
enum dirty_mode { DIRTY_WRPROT, DIRTY_MANUAL_INIT_SET };

struct vm {
	int fd;
	unsigned id; // the number its announcements carry
	enum dirty_mode dirty;
	struct slot code; // slot 0: GPA 0, 2 MiB, 4K-backed, the loops at CODE_GPA
};

static const char* dirty_mode_name(const struct vm* v)
{
	return v->dirty == DIRTY_WRPROT ? ARBORIST_DIRTY_MODE_WRPROT : ARBORIST_DIRTY_MODE_MANUAL_INIT_SET;
}

static unsigned long long gfn_of(uint64_t gpa) { return (unsigned long long)(gpa / PAGE); }
static unsigned long long pages_of(uint64_t size) { return (unsigned long long)(size / PAGE); }

static struct slot add_slot(struct vm* v, uint32_t id, uint64_t gpa, uint64_t size, enum backing b, uint32_t flags)
{
	struct slot s = {.id = id, .flags = flags, .gpa = gpa, .size = size, .host = host_alloc(size, b)};
	set_slot(v->fd, &s, size);
	announce(ARBORIST_OP_MEMSLOT_ADD, v->id, 0u, s.id, gfn_of(s.gpa), pages_of(s.size), s.flags);
	return s;
}

static void slot_flags(struct vm* v, struct slot* s, uint32_t flags)
{
	uint32_t old = s->flags;
	s->flags = flags;
	set_slot(v->fd, s, s->size);
	announce(ARBORIST_OP_MEMSLOT_FLAGS, v->id, 0u, s->id, gfn_of(s->gpa), pages_of(s->size), s->flags, old,
		 dirty_mode_name(v));
}

static void slot_move(struct vm* v, struct slot* s, uint64_t gpa)
{
	uint64_t old = s->gpa;
	s->gpa = gpa;
	set_slot(v->fd, s, s->size);
	announce(ARBORIST_OP_MEMSLOT_MOVE, v->id, 0u, s->id, gfn_of(s->gpa), pages_of(s->size), gfn_of(old));
}

static void slot_delete(struct vm* v, struct slot* s)
{
	set_slot(v->fd, s, 0);
	announce(ARBORIST_OP_MEMSLOT_DELETE, v->id, 0u, s->id, gfn_of(s->gpa), pages_of(s->size));
	s->size = 0;
}

// MADV_DONTNEED of `size` bytes at `offset` into the slot's host memory:
// the MMU notifier zaps the GFNs they back.
static void slot_dontneed(struct vm* v, const struct slot* s, uint64_t offset, uint64_t size)
{
	if (madvise(s->host + offset, size, MADV_DONTNEED))
		die("madvise(MADV_DONTNEED): %s", strerror(errno));
	announce(ARBORIST_OP_UNMAP, v->id, 0u, gfn_of(s->gpa + offset), pages_of(size),
		 (unsigned long long)(uintptr_t)(s->host + offset), ARBORIST_UNMAP_DONTNEED);
}

static unsigned long dirty_count(struct vm* v, const struct slot* s)
{
	size_t bytes = ((s->size / PAGE) + 63) / 64 * 8;
	uint64_t* bitmap = calloc(1, bytes);
	if (!bitmap)
		die("calloc");
	struct kvm_dirty_log log = {.slot = s->id, .dirty_bitmap = bitmap};
	IOCTL(v->fd, KVM_GET_DIRTY_LOG, &log);
	announce(ARBORIST_OP_DIRTY_LOG_GET, v->id, 0u, s->id, gfn_of(s->gpa), pages_of(s->size), dirty_mode_name(v));
	unsigned long n = 0;
	for (size_t i = 0; i < bytes / 8; i++)
		n += (unsigned long)__builtin_popcountll(bitmap[i]);
	free(bitmap);
	return n;
}

// KVM_CLEAR_DIRTY_LOG of `pages` pages from `first` (a multiple of 64), every bit set.
static void dirty_clear(struct vm* v, const struct slot* s, uint64_t first, uint64_t pages)
{
	size_t bytes = (pages + 63) / 64 * 8;
	uint64_t* bitmap = malloc(bytes);
	if (!bitmap)
		die("malloc");
	memset(bitmap, 0xff, bytes);
	struct kvm_clear_dirty_log clear = {
		.slot = s->id, .num_pages = (uint32_t)pages, .first_page = first, .dirty_bitmap = bitmap};
	IOCTL(v->fd, KVM_CLEAR_DIRTY_LOG, &clear);
	announce(ARBORIST_OP_DIRTY_LOG_CLEAR, v->id, 0u, s->id, gfn_of(s->gpa) + first, (unsigned long long)pages,
		 dirty_mode_name(v));
	free(bitmap);
}

// close() of the VM's last file descriptor (its vCPUs are closed before):
// kvm_destroy_vm() runs, and its memslots are gone.
static void vm_close(struct vm* v)
{
	close(v->fd);
	announce(ARBORIST_OP_VM_DESTROY, v->id);
}

// ---- VMs and vCPUs --------------------------------------------------------------

struct vcpu {
	int fd;
	int id;
	struct kvm_run* run;
};

static struct vm vm_create(void)
{
	struct vm v = {.id = next_vm_id++, .dirty = DIRTY_WRPROT};
	v.fd = (int)IOCTL(kvm_fd, KVM_CREATE_VM, (void*)0);
	v.code = add_slot(&v, 0, 0, 2 * MiB, BACK_4K, 0);
	memcpy(v.code.host + CODE_WRITE, loop_write, sizeof(loop_write));
	memcpy(v.code.host + CODE_READ, loop_read, sizeof(loop_read));
	return v;
}

// 32-bit flat protected mode, no paging: GPA = linear address.
static void flat32(struct kvm_segment* s, int code, uint16_t sel)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = code ? 11 : 3; // execute/read accessed, read/write accessed
	s->present = 1;
	s->s = 1;
	s->db = 1;
	s->g = 1;
}

static struct vcpu vcpu_create(const struct vm* v, int id)
{
	struct vcpu c = {.id = id};
	c.fd = (int)xioctl(v->fd, KVM_CREATE_VCPU, (void*)(long)id, "KVM_CREATE_VCPU");
	c.run = mmap(NULL, (size_t)vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
	if (c.run == MAP_FAILED)
		die("mmap kvm_run: %s", strerror(errno));
	struct kvm_sregs sr;
	IOCTL(c.fd, KVM_GET_SREGS, &sr);
	flat32(&sr.cs, 1, 0x08);
	flat32(&sr.ds, 0, 0x10);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.cr0 = 0x11; // PE | ET, paging off
	sr.cr4 = 0;
	sr.efer = 0;
	IOCTL(c.fd, KVM_SET_SREGS, &sr);
	return c;
}

struct loop {
	int read;          // read loop instead of write loop
	uint64_t base;     // first GPA
	uint64_t count;    // pages per pass
	uint64_t stride;   // bytes between two accesses
	uint64_t passes;   // times over the range
	uint32_t value;    // what the write loop stores
};

// Run the loop to its "out"; returns the number of MMIO exits on the way.
static unsigned run_loop(struct vcpu* c, struct loop l)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = l.read ? CODE_READ : CODE_WRITE;
	r.rflags = 2;
	r.rax = l.value;
	r.rsi = l.base;
	r.rbx = l.count;
	r.rdx = l.stride;
	r.rbp = l.passes ? l.passes : 1;
	IOCTL(c->fd, KVM_SET_REGS, &r);
	unsigned mmio = 0;
	for (;;) {
		IOCTL(c->fd, KVM_RUN, (void*)0);
		struct kvm_run* run = c->run;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.port == DONE_PORT && run->io.direction == KVM_EXIT_IO_OUT)
				return mmio;
			die("vcpu %d: unexpected port io %#x", c->id, run->io.port);
		case KVM_EXIT_MMIO:
			mmio++;
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			continue;
		case KVM_EXIT_INTR:
			continue;
		case KVM_EXIT_FAIL_ENTRY:
			die("vcpu %d: KVM_EXIT_FAIL_ENTRY reason %#llx", c->id,
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			die("vcpu %d: KVM_EXIT_INTERNAL_ERROR suberror %u", c->id, run->internal.suberror);
		default: {
			struct kvm_regs now;
			IOCTL(c->fd, KVM_GET_REGS, &now);
			die("vcpu %d: unexpected exit reason %u at rip %#llx edi %#llx", c->id, run->exit_reason,
			    (unsigned long long)now.rip, (unsigned long long)now.rdi);
		}
		}
	}
}

static struct loop writes(uint64_t base, uint64_t pages)
{
	return (struct loop){.base = base, .count = pages, .stride = PAGE, .passes = 1, .value = 0x61726230};
}

static struct loop reads(uint64_t base, uint64_t pages)
{
	return (struct loop){.read = 1, .base = base, .count = pages, .stride = PAGE, .passes = 1};
}

static void expect(const char* what, unsigned long got, unsigned long want)
{
	if (got != want)
		die("%s: got %lu, expected %lu", what, got, want);
	say("  %s: %lu", what, got);
}

static void vcpu_close(struct vcpu* c)
{
	munmap(c->run, (size_t)vcpu_mmap_size);
	close(c->fd);
}

// ---- VM a: one vCPU, every single-threaded path ---------------------------------

#define A_THP_GPA 0x400000ul   // slot 1: 4 MiB, THP
#define A_ZERO_GPA 0x1000000ul // slot 2: 2 MiB, THP, first read (huge zero page)
#define A_RO_GPA 0x2000000ul   // slot 3: 2 MiB, read-only
#define A_MOVED_GPA 0x3000000ul

static void vm_a(void)
{
	phase("a.create", "VM with slot 0 (GPA 0, 2 MiB, 4K), slot 1 (GPA 0x400000, 4 MiB, THP), "
			  "slot 2 (GPA 0x1000000, 2 MiB, THP)");
	struct vm v = vm_create();
	struct slot thp = add_slot(&v, 1, A_THP_GPA, 4 * MiB, BACK_THP, 0);
	struct slot zero = add_slot(&v, 2, A_ZERO_GPA, 2 * MiB, BACK_THP, 0);
	struct vcpu c = vcpu_create(&v, 0);

	phase("a.fault-4k", "write 496 pages of slot 0: 4K faults, page-table pages linked");
	run_loop(&c, writes(0x10000, 496));

	phase("a.fault-2m", "write slot 1: 2M faults");
	run_loop(&c, writes(A_THP_GPA, 1024));

	phase("a.zero-page-read", "read slot 2: the host huge zero page, mapped read-only at 2M");
	run_loop(&c, reads(A_ZERO_GPA, 512));

	phase("a.cow-write", "write slot 2: host copy-on-write, MMU notifier, re-fault");
	run_loop(&c, writes(A_ZERO_GPA, 512));

	phase("a.mmio", "writes with no memslot: MMIO SPTE installed, a second one, then the cached one");
	expect("mmio exits", run_loop(&c, writes(MMIO_GPA, 1)), 1);
	expect("mmio exits", run_loop(&c, writes(MMIO_GPA + PAGE, 1)), 1);
	expect("mmio exits", run_loop(&c, writes(MMIO_GPA, 1)), 1);

	phase("a.dirty-log-on", "KVM_MEM_LOG_DIRTY_PAGES on slot 1: eager split, write-protect");
	slot_flags(&v, &thp, KVM_MEM_LOG_DIRTY_PAGES);

	phase("a.dirty-write", "write the first 1 MiB of slot 1: fast page faults");
	run_loop(&c, writes(A_THP_GPA, 256));

	phase("a.dirty-get", "KVM_GET_DIRTY_LOG slot 1: the dirtied SPTEs are write-protected again");
	expect("dirty pages", dirty_count(&v, &thp), 256);

	phase("a.dirty-rewrite", "write 16 pages of slot 1 again: fast page faults, then get the log");
	run_loop(&c, writes(A_THP_GPA + 1 * MiB, 16));
	expect("dirty pages", dirty_count(&v, &thp), 16);

	phase("a.dirty-log-off", "dirty logging off on slot 1: collapsible SPTEs zapped");
	slot_flags(&v, &thp, 0);

	phase("a.refault-2m", "write slot 1: 2M faults again");
	run_loop(&c, writes(A_THP_GPA, 1024));

	phase("a.madvise-dontneed", "MADV_DONTNEED on 4 KiB of slot 1 (inside a THP) and 64 KiB of slot 2");
	slot_dontneed(&v, &thp, 2 * MiB, 4 * KiB);
	slot_dontneed(&v, &zero, 1 * MiB, 64 * KiB);

	phase("a.refault-after-zap", "write the zapped pages again");
	run_loop(&c, writes(A_THP_GPA + 2 * MiB, 1));
	run_loop(&c, writes(A_ZERO_GPA + 1 * MiB, 16));

	phase("a.readonly-read", "read-only slot 3 (GPA 0x2000000, 2 MiB): reads map read-only SPTEs");
	struct slot ro = add_slot(&v, 3, A_RO_GPA, 2 * MiB, BACK_4K, KVM_MEM_READONLY);
	memset(ro.host, 0x5a, ro.size);
	run_loop(&c, reads(A_RO_GPA, 64));

	phase("a.readonly-write", "writes to the read-only slot exit to userspace as MMIO");
	expect("mmio exits", run_loop(&c, writes(A_RO_GPA, 4)), 4);

	phase("a.mmio-stale", "the MMIO SPTE of a.mmio is stale (adding slot 3 changed the memslot generation): "
			      "write there again");
	expect("mmio exits", run_loop(&c, writes(MMIO_GPA, 1)), 1);

	phase("a.slot-move", "move slot 2 to GPA 0x3000000: the roots are invalidated and zapped");
	slot_move(&v, &zero, A_MOVED_GPA);

	phase("a.after-move", "write slot 2 at its new GPA and slot 0: a new root fills");
	run_loop(&c, writes(A_MOVED_GPA, 512));
	run_loop(&c, writes(0x10000, 8));

	phase("a.slot-delete", "delete slot 2: the roots are invalidated and zapped");
	slot_delete(&v, &zero);

	phase("a.after-delete", "write slot 0 and slot 1 after the delete; the old GPA is MMIO now");
	run_loop(&c, writes(0x10000, 8));
	run_loop(&c, writes(A_THP_GPA, 1024));
	expect("mmio exits", run_loop(&c, writes(A_MOVED_GPA, 1)), 1);

	phase("a.teardown", "close the vCPU and the VM: the root is torn down");
	vcpu_close(&c);
	vm_close(&v);
}

// ---- VM b: manual dirty-log protection ------------------------------------------

static void vm_b(void)
{
	phase("b.create", "VM with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (ENABLE|INITIALLY_SET), slot 1 4 MiB THP");
	struct vm v = vm_create();
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args = {KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET},
	};
	IOCTL(v.fd, KVM_ENABLE_CAP, &cap);
	v.dirty = DIRTY_MANUAL_INIT_SET;
	struct slot thp = add_slot(&v, 1, A_THP_GPA, 4 * MiB, BACK_THP, 0);
	struct vcpu c = vcpu_create(&v, 0);

	phase("b.fault-2m", "write slot 1: 2M faults");
	run_loop(&c, writes(A_THP_GPA, 1024));

	phase("b.dirty-log-on", "dirty logging on: with INITIALLY_SET nothing is split or write-protected yet");
	slot_flags(&v, &thp, KVM_MEM_LOG_DIRTY_PAGES);

	phase("b.write-initially-set", "write 8 pages in each 2 MiB half: no fault");
	run_loop(&c, writes(A_THP_GPA, 8));
	run_loop(&c, writes(A_THP_GPA + 2 * MiB, 8));

	phase("b.clear-dirty-log", "KVM_CLEAR_DIRTY_LOG of the first 2 MiB: split and write-protect");
	dirty_clear(&v, &thp, 0, 512);

	phase("b.fast-fault", "write 8 pages in each half: fast page faults in the cleared half only");
	run_loop(&c, writes(A_THP_GPA, 8));
	run_loop(&c, writes(A_THP_GPA + 2 * MiB, 8));

	phase("b.dirty-get", "KVM_GET_DIRTY_LOG: the uncleared half and the 8 rewritten pages");
	expect("dirty pages", dirty_count(&v, &thp), 520);

	phase("b.teardown", "close the VM");
	vcpu_close(&c);
	vm_close(&v);
}

// ---- VM c: two vCPUs on two threads ---------------------------------------------

#define C_4K_GPA 0x400000ul    // slot 1: 4 MiB, 4K-backed
#define C_THP_GPA 0x1000000ul  // slot 2: 4 MiB, THP
#define C_MOVE_GPA 0x2000000ul // slot 3: 2 MiB, 4K-backed, moved and deleted
#define C_MOVED_GPA 0x3000000ul

// A bound on the runs of a worker that loops until told to stop (about 150
// to 400 are needed), so that the trace stays within the ring buffer even
// if the main thread is slow to say stop.
#define MAX_WORKER_RUNS 20000

struct worker {
	struct vcpu* c;
	struct loop l;
	pthread_barrier_t* start;
	volatile int* stop; // loop until set (0: one run)
	unsigned long runs;
	unsigned long mmio; // MMIO exits over all runs
};

static void* worker_main(void* arg)
{
	struct worker* w = arg;
	pthread_barrier_wait(w->start);
	do {
		w->mmio += run_loop(w->c, w->l);
		w->runs++;
	} while (w->stop && !__atomic_load_n(w->stop, __ATOMIC_ACQUIRE) && w->runs < MAX_WORKER_RUNS);
	return NULL;
}

// A vCPU thread may run on any CPU (the main thread is pinned, see the top).
static void start_worker(pthread_t* t, struct worker* w)
{
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) || pthread_attr_setaffinity_np(&attr, sizeof(all_cpus), &all_cpus) ||
	    pthread_create(t, &attr, worker_main, w))
		die("pthread_create");
	pthread_attr_destroy(&attr);
}

// Run l0 on vCPU 0 and l1 on vCPU 1, each on its own thread, released
// together by a barrier; returns the MMIO exits of both.
static unsigned long run_pair(struct vcpu* c, struct loop l0, struct loop l1)
{
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, 2);
	struct worker w[2] = {{.c = &c[0], .l = l0, .start = &start}, {.c = &c[1], .l = l1, .start = &start}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		start_worker(&t[i], &w[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	return w[0].mmio + w[1].mmio;
}

static void vm_c(void)
{
	phase("c.create", "VM with 2 vCPUs; slot 1 (GPA 0x400000, 4 MiB, 4K), slot 2 (GPA 0x1000000, 4 MiB, THP), "
			  "slot 3 (GPA 0x2000000, 2 MiB, 4K)");
	struct vm v = vm_create();
	add_slot(&v, 1, C_4K_GPA, 4 * MiB, BACK_4K, 0);
	add_slot(&v, 2, C_THP_GPA, 4 * MiB, BACK_THP, 0);
	struct slot mv = add_slot(&v, 3, C_MOVE_GPA, 2 * MiB, BACK_4K, 0);
	struct vcpu c[2] = {vcpu_create(&v, 0), vcpu_create(&v, 1)};

	phase("c.contended-4k", "two vCPUs at once write interleaved 4K pages of slot 1 (even / odd)");
	struct loop even = {.base = C_4K_GPA, .count = 512, .stride = 2 * PAGE, .passes = 1, .value = 1};
	struct loop odd = even;
	odd.base += PAGE;
	run_pair(c, even, odd);

	phase("c.contended-2m", "two vCPUs at once write the same pages of slot 2: racing 2M faults");
	run_pair(c, writes(C_THP_GPA, 1024), writes(C_THP_GPA, 1024));

	phase("c.zap-while-fill", "vCPU 1 keeps writing slot 1 and slot 3 while slot 3 is moved back and forth: "
				  "invalidated roots are zapped while a new root fills");
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, 2);
	volatile int stop = 0;
	struct worker w = {.c = &c[1], .l = writes(C_4K_GPA, 1024), .start = &start, .stop = &stop};
	w.l.passes = 2;
	pthread_t t;
	start_worker(&t, &w);
	pthread_barrier_wait(&start);
	for (int i = 0; i < 4; i++) {
		usleep(20000);
		run_loop(&c[0], writes(mv.gpa, 512));
		slot_move(&v, &mv, mv.gpa == C_MOVE_GPA ? C_MOVED_GPA : C_MOVE_GPA);
	}
	usleep(20000);
	slot_delete(&v, &mv);
	usleep(20000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&start);
	say("  vCPU 1 ran its loop %lu times", w.runs);

	phase("c.teardown", "close both vCPUs and the VM");
	vcpu_close(&c[0]);
	vcpu_close(&c[1]);
	vm_close(&v);
}

// ---- VM d: two vCPUs on the very same pages -------------------------------------
//
// In VM c the two vCPUs mostly touch different SPTEs.  Here they fault,
// map and fix the same GFNs at the same time, so two CPUs race on one SPTE
// (tdp_mmu_set_spte_atomic()'s cmpxchg in the fault path, the fast page
// fault's cmpxchg) and their kvmmmu events interleave in the ring buffer
// in either order: the traces that multi-CPU replay must explain.

#define D_SAME_GPA 0x4000000ul  // slot 1: 32 MiB, 4K-backed
#define D_SAME_ROUNDS 16        // one fresh 2 MiB region per round
#define D_SAME_PAGES 8          // pages written per round, from the region's start
#define D_ZERO_GPA 0x1000000ul  // slot 2: 512 KiB, 4K-backed, only read
#define D_DIRTY_GPA 0x1400000ul // slot 3: 512 KiB, 4K-backed, dirty logging
#define D_PAGES 128             // pages of slot 2 and of slot 3
// VM d is kept small (about 4,000 trace lines) so that its whole lifetime
// fits in a test fixture (tests/data/linux-6.12-npt).
#define D_VALUE0 0x64763030u    // what vCPU 0 writes ("00vd")
#define D_VALUE1 0x64763131u    // what vCPU 1 writes ("11vd")

// vCPU 0 ascending and vCPU 1 descending over the same `pages` pages from
// `base`: the two meet in the middle, where both fault on the same GFN
// (and at the start both link the same page-table pages).
static unsigned long run_crossing(struct vcpu* c, uint64_t base, uint64_t pages)
{
	struct loop up = {.base = base, .count = pages, .stride = PAGE, .passes = 1, .value = D_VALUE0};
	// The loop adds the stride to %edi (32 bits), so -PAGE is 0xfffff000.
	struct loop down = {.base = base + (pages - 1) * PAGE, .count = pages, .stride = (uint32_t)-PAGE,
			    .passes = 1, .value = D_VALUE1};
	return run_pair(c, up, down);
}

// Every page of the slot range holds what one of the two vCPUs wrote: the
// writes went through the SPTEs the two raced to install, to the host
// memory of the slot.  Returns how many pages vCPU 0 wrote last.
static unsigned long check_written(const struct slot* s, uint64_t offset, uint64_t pages)
{
	unsigned long by0 = 0;
	for (uint64_t i = 0; i < pages; i++) {
		uint32_t v;
		memcpy(&v, s->host + offset + i * PAGE, sizeof(v));
		if (v != D_VALUE0 && v != D_VALUE1)
			die("slot %u page %lu (GPA %#lx) holds %#x, written by neither vCPU", s->id,
			    (unsigned long)(offset / PAGE + i), (unsigned long)(s->gpa + offset + i * PAGE), v);
		by0 += v == D_VALUE0;
	}
	return by0;
}

// The read faults went to the host zero page: every page of the range is
// present in our page tables with one and the same PFN (/proc/self/pagemap:
// bit 63 present, bits 0-54 the PFN, which only root may see).  A kernel
// without CONFIG_PROC_PAGE_MONITOR gets a note instead of the check.
static void check_zero_page(const struct slot* s, uint64_t pages)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0) {
		say("  note: cannot open /proc/self/pagemap (%s): zero page not checked", strerror(errno));
		return;
	}
	uint64_t first = 0;
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t e;
		off_t at = (off_t)(((uintptr_t)s->host / PAGE + i) * sizeof(e));
		if (pread(fd, &e, sizeof(e), at) != (ssize_t)sizeof(e))
			die("read /proc/self/pagemap: %s", strerror(errno));
		uint64_t pfn = e & ((1ull << 55) - 1);
		if (!(e >> 63) || pfn == 0)
			die("slot %u page %lu: not present in the host page tables after a guest read (pagemap %#llx)",
			    s->id, (unsigned long)i, (unsigned long long)e);
		if (i == 0)
			first = pfn;
		else if (pfn != first)
			die("slot %u page %lu: host PFN %#llx, page 0 has %#llx: not the zero page", s->id,
			    (unsigned long)i, (unsigned long long)pfn, (unsigned long long)first);
	}
	close(fd);
	say("  host pages: all %lu on the zero page, PFN %#llx", (unsigned long)pages, (unsigned long long)first);
}

static void vm_d(void)
{
	phase("d.create", "VM with 2 vCPUs; slot 1 (GPA 0x4000000, 32 MiB, 4K), slot 2 (GPA 0x1000000, 512 KiB, "
			  "4K, never written), slot 3 (GPA 0x1400000, 512 KiB, 4K)");
	struct vm v = vm_create();
	struct slot same = add_slot(&v, 1, D_SAME_GPA, D_SAME_ROUNDS * 2 * MiB, BACK_4K, 0);
	struct slot zero = add_slot(&v, 2, D_ZERO_GPA, D_PAGES * PAGE, BACK_4K, 0);
	struct slot dirty = add_slot(&v, 3, D_DIRTY_GPA, D_PAGES * PAGE, BACK_4K, 0);
	struct vcpu c[2] = {vcpu_create(&v, 0), vcpu_create(&v, 1)};

	// Each round starts both vCPUs in a fresh 2 MiB region, so their first
	// faults also race to link the same new page table (the loser's table,
	// traced by kvm_mmu_get_page, is freed unlinked), and they cross once.
	// Short rounds give many crossings.  Even so, under TCG the two vCPU
	// threads get going a fault's time or more apart, so only a few rounds
	// per capture fault the same GFN at once (0 to 7 measured); the fast
	// page faults of d.dirty-race collide far more often.
	phase("d.same-4k", "both vCPUs write the same 4K pages of slot 1, vCPU 0 ascending and vCPU 1 descending, "
			   "16 rounds of 8 pages, each in a fresh 2 MiB region: racing faults on the same GFNs "
			   "and the same new page tables");
	unsigned long by0 = 0, mmio = 0;
	for (uint64_t r = 0; r < D_SAME_ROUNDS; r++) {
		mmio += run_crossing(c, D_SAME_GPA + r * 2 * MiB, D_SAME_PAGES);
		by0 += check_written(&same, r * 2 * MiB, D_SAME_PAGES);
	}
	expect("mmio exits", mmio, 0);
	say("  pages last written by vCPU 0: %lu of %lu", by0, (unsigned long)(D_SAME_ROUNDS * D_SAME_PAGES));

	phase("d.zero-page-read", "both vCPUs read the same never-written 4K pages of slot 2 at once: racing "
				  "read faults that map the host zero page read-only");
	struct loop rd = reads(D_ZERO_GPA, D_PAGES);
	expect("mmio exits", run_pair(c, rd, rd), 0);
	check_zero_page(&zero, D_PAGES);

	phase("d.dirty-prefault", "vCPU 0 writes all of slot 3: writable 4K SPTEs to write-protect next");
	run_loop(&c[0], writes(D_DIRTY_GPA, D_PAGES));

	phase("d.dirty-log-on", "KVM_MEM_LOG_DIRTY_PAGES on slot 3: its SPTEs are write-protected");
	slot_flags(&v, &dirty, KVM_MEM_LOG_DIRTY_PAGES);

	phase("d.dirty-race", "both vCPUs write the same pages of slot 3 (ascending / descending): racing fast "
			      "page faults on the same write-protected SPTEs");
	expect("mmio exits", run_crossing(c, D_DIRTY_GPA, D_PAGES), 0);
	check_written(&dirty, 0, D_PAGES);

	phase("d.dirty-get", "KVM_GET_DIRTY_LOG slot 3: every page dirty, write-protected again");
	expect("dirty pages", dirty_count(&v, &dirty), D_PAGES);

	phase("d.dirty-race-again", "both vCPUs write slot 3 again: racing fast page faults, then get the log");
	expect("mmio exits", run_crossing(c, D_DIRTY_GPA, D_PAGES), 0);
	check_written(&dirty, 0, D_PAGES);
	expect("dirty pages", dirty_count(&v, &dirty), D_PAGES);

	phase("d.teardown", "close both vCPUs and the VM");
	vcpu_close(&c[0]);
	vcpu_close(&c[1]);
	vm_close(&v);
}

// `arborist-workload --hold READY`: create a VM with one vCPU, never run
// it, and sleep until killed.  /init starts this before tracing.  Why:
// kvm_create_vm() and kvm_destroy_vm() flip the scheduler's static key
// preempt_notifier_key (preempt_notifier_inc()/dec()) on the first VM and
// after the last one, and a vCPU without an in-kernel LAPIC flips
// kvm_has_noapic_vcpu; every flip patches kernel text with int3
// (text_poke_bp()).  Under QEMU 7.2's multi-threaded TCG such a patch of
// the context-switch path hung the guest in about 1 run in 25, with both
// vCPUs in exc_int3 (docs/capture.md, "A hang and its cause").  With this
// VM alive the counts never drop to zero, so the workload's VMs come and
// go without patching any text.
static int hold(const char* ready)
{
	int vm = (int)IOCTL(kvm_fd, KVM_CREATE_VM, (void*)0);
	xioctl(vm, KVM_CREATE_VCPU, (void*)0, "KVM_CREATE_VCPU");
	int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || close(fd))
		die("create %s: %s", ready, strerror(errno));
	for (;;)
		pause();
}

// The main thread makes every announced call and writes every
// announcement: on one CPU, the call's events precede its announcement in
// that CPU's ring buffer whatever the trace clock (see the top).
static void pin_main_thread(void)
{
	if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus))
		die("sched_getaffinity: %s", strerror(errno));
	int cpu = 0;
	while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &all_cpus))
		cpu++;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		die("sched_setaffinity: %s", strerror(errno));
	say("main thread pinned to CPU %d, vCPU threads on any of %d", cpu, CPU_COUNT(&all_cpus));
}

int main(int argc, char** argv)
{
	if (argc == 3 && !strcmp(argv[1], "--hold")) {
		current_phase = "(hold)";
		kvm_fd = open("/dev/kvm", O_RDWR);
		if (kvm_fd < 0)
			die("open /dev/kvm: %s", strerror(errno));
		return hold(argv[2]);
	}
	const char* marker = argc > 1 ? argv[1] : "/sys/kernel/tracing/trace_marker";
	setvbuf(stdout, NULL, _IOLBF, 0);
	pin_main_thread();
	marker_fd = open(marker, O_WRONLY);
	if (marker_fd < 0)
		die("open %s: %s", marker, strerror(errno));
	kvm_fd = open("/dev/kvm", O_RDWR);
	if (kvm_fd < 0)
		die("open /dev/kvm: %s", strerror(errno));
	if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		die("KVM_GET_API_VERSION: not %d", KVM_API_VERSION);
	vcpu_mmap_size = (int)IOCTL(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, (void*)0);
	const struct {
		int cap;
		const char* name;
	} caps[] = {{KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
		    {KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2"}};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
			die("the kernel's KVM lacks %s", caps[i].name);

	vm_a();
	vm_b();
	vm_c();
	vm_d();

	char buf[64];
	current_phase = "(end)";
	snprintf(buf, sizeof(buf), "arborist-done: %d phases", nphases);
	mark(buf);
	say("done: %d phases", nphases);
	return 0;
}
