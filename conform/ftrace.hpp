// SPDX-License-Identifier: GPL-2.0-only
//
// Streaming reader for ftrace text, in the two layouts a kernel trace comes in:
//
//   /sys/kernel/tracing/trace (kernel/trace/trace.c, print_trace_fmt()):
//     "<comm>-<pid> [<cpu>] <flags> <sec>.<usec>: <event>: <payload>"
//     optionally with "(<tgid>)" after the pid (options/record-tgid) and
//     without the flags column (options/irq-info off);
//   trace-cmd report (tracecmd/trace-read.c, "%16s-%-5d [%03d]"):
//     "<comm>-<pid> [<cpu>] <sec>.<usec>: <event>: <payload>"
//     with the event name padded by spaces and a "cpus=N" / "version = N"
//     header.
//
// The line layout and the payload formats of the events the checker
// replays are those of tests/data/linux-6.1-npt/README.md ("Line
// formats") and tests/data/linux-6.1-npt/formats.txt.  Numbers printed
// with %llx/%x are hexadecimal (with or without 0x); "as id", "level",
// "vcpu", "errno", "gen" and the page-role fields are decimal.
//
// Every error is a ParseError whose message is "FILE:LINE: field 'NAME':
// what", naming the first field that does not parse.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "arborist/support/hex.hpp"
#include "arborist/support/line_reader.hpp"

namespace arborist::conform {

using u64 = std::uint64_t;
using u32 = std::uint32_t;

// Where a line came from, for error messages.
struct Where {
	std::string_view file;
	u64 line = 0;
};

class ParseError : public std::runtime_error {
public:
	ParseError(const Where& w, std::string_view field, const std::string& what);
	const std::string& field() const { return field_; }
	u64 line() const { return line_; }
	const std::string& detail() const { return detail_; } // the message without "FILE:LINE: field 'F': "

private:
	std::string field_;
	u64 line_;
	std::string detail_;
};

// ---- reading lines ----------------------------------------------------------

// Traces are read as every input of arborist is (support/line_reader.hpp):
// any kind of file, "-" for stdin, errno in messages, a bounded line.
using support::ByteSource;
using support::FileSource;
using support::InputError;
using support::LineReader;
using support::StringSource;

// A trace line is at most 64 MiB long (a kvmmmu line is about 150 bytes;
// the cap bounds memory on input such as /dev/zero).
inline constexpr std::size_t MAX_TRACE_LINE = std::size_t{64} << 20;

// A reader of trace lines from src.
inline LineReader trace_reader(ByteSource& src, std::size_t chunk = std::size_t{1} << 20)
{
	return LineReader(src, MAX_TRACE_LINE, chunk);
}

// ---- the line prefix --------------------------------------------------------

enum class LineKind : std::uint8_t {
	blank,          // empty or white space
	comment,        // "# ..." header of /sys/kernel/tracing/trace
	header,         // trace-cmd: "cpus=N", "version = N", "CPU N is empty"; bpftrace: "Attaching N probes..."
	entries,        // "# entries-in-buffer/entries-written: A/B ..."
	buffer_started, // "##### CPU N buffer started ####": that CPU overran
	lost_events,    // "CPU:N [LOST M EVENTS]", "CPU:N [M EVENTS DROPPED]", bpftrace "Lost M events"
	event,
};

struct TraceLine {
	LineKind kind = LineKind::blank;
	std::string_view text; // the whole line
	std::string_view comm, flags, timestamp, event, payload;
	u32 pid = 0;
	u32 cpu = 0;
	// entries: entries-in-buffer and entries-written; lost_events: CPU and
	// count (count 0 when trace-cmd does not know it).
	u64 first = 0, second = 0;
	// entries ("#P:N") and trace-cmd's "cpus=N" header: the number of CPUs
	// the trace has buffers for (0: not given).
	u32 cpus = 0;
};

inline constexpr u32 MAX_CPU = 65535;

TraceLine parse_trace_line(std::string_view text, const Where& w);

// ---- event payloads ---------------------------------------------------------

enum class EventId : std::uint8_t {
	tdp_mmu_spte_changed,
	mmu_get_page,
	mmu_prepare_zap_page,
	mmu_split_huge_page,
	mmu_set_spte,
	mmu_spte_requested,
	fast_page_fault,
	mmu_zap_all_fast,
	mark_mmio_spte,
	// TDX events of docs/trace-format.md (tools/arborist-tdx.bt)
	tdx_td_params,
	tdx_seamcall,
	tdx_vcpu_enter,
	tdx_vcpu_exit,
	tdx_hook_enter,
	tdx_hook_exit,
	other,
};
inline constexpr std::size_t NUM_EVENT_IDS = static_cast<std::size_t>(EventId::other) + 1;

// Each event once: its name on a trace line and, for the events arborist
// writes (`arborist run --trace`, render() below), the payload's printf
// format: mmutrace.h's TP_printk for the kvmmmu events, docs/trace-format.md's
// table for the TDX events (which the bpftrace scripts of tools/ print).
// The parser classifies by name; the writer fills the format
// (format_event()); tests check the docs and the scripts against it.
// An empty format: an event arborist only reads.
struct EventFormat {
	EventId id;
	std::string_view name;
	std::string_view format;
};

inline constexpr EventFormat event_formats[NUM_EVENT_IDS] = {
	{EventId::tdp_mmu_spte_changed, "kvm_tdp_mmu_spte_changed", "as id %d gfn %llx level %d old_spte %llx new_spte %llx"},
	{EventId::mmu_get_page, "kvm_mmu_get_page", ""},                 // KVM_MMU_PAGE_PRINTK(), render(MmuPage)
	{EventId::mmu_prepare_zap_page, "kvm_mmu_prepare_zap_page", ""}, // likewise
	{EventId::mmu_split_huge_page, "kvm_mmu_split_huge_page", "gfn %llx spte %llx level %d errno %d"},
	{EventId::mmu_set_spte, "kvm_mmu_set_spte", ""},
	{EventId::mmu_spte_requested, "kvm_mmu_spte_requested", "gfn %llx pfn %llx level %d"},
	{EventId::fast_page_fault, "fast_page_fault", ""},
	{EventId::mmu_zap_all_fast, "kvm_mmu_zap_all_fast", ""},
	{EventId::mark_mmio_spte, "mark_mmio_spte", ""},
	{EventId::tdx_td_params, "tdx_td_params", "tdr %llx pwl %u x86_phys_bits %u"},
	{EventId::tdx_seamcall, "tdx_seamcall",
	 "leaf %s rcx %llx rdx %llx r8 %llx r9 %llx status %llx out_rcx %llx out_rdx %llx out_r8 %llx"},
	{EventId::tdx_vcpu_enter, "tdx_vcpu_enter", "tdvpr %llx"},
	{EventId::tdx_vcpu_exit, "tdx_vcpu_exit", "tdvpr %llx status %llx"},
	{EventId::tdx_hook_enter, "tdx_hook_enter", "hook %s gfn %llx level %d arg %llx"},
	{EventId::tdx_hook_exit, "tdx_hook_exit", "hook %s gfn %llx level %d ret %d"},
	{EventId::other, "other", ""},
};

constexpr bool event_formats_in_order()
{
	for (std::size_t i = 0; i < NUM_EVENT_IDS; i++)
		if (static_cast<std::size_t>(event_formats[i].id) != i)
			return false;
	return true;
}
static_assert(event_formats_in_order(), "event_formats is indexed by EventId");

EventId classify_event(std::string_view name);
std::string_view event_name(EventId id);

// One value of a payload: %s takes text, %d a signed and %u/%llx/%x an
// unsigned number.
struct FormatArg {
	enum class Kind : std::uint8_t { number, signed_number, text } kind;
	u64 number = 0;
	std::int64_t signed_number = 0;
	std::string_view text;
	constexpr FormatArg(u64 v) : kind(Kind::number), number(v) {}
	constexpr FormatArg(u32 v) : kind(Kind::number), number(v) {}
	constexpr FormatArg(int v) : kind(Kind::signed_number), signed_number(v) {}
	constexpr FormatArg(std::string_view v) : kind(Kind::text), text(v) {}
};

// "NAME: payload", the payload being the event's format filled with args
// in order (%llx and %x as ftrace prints them: hex digits without 0x).
// A format and args that disagree is a bug of the caller: logic_error.
std::string format_event(EventId id, std::initializer_list<FormatArg> args);

// "as id %d gfn %llx level %d old_spte %llx new_spte %llx"
struct SpteChanged {
	u32 as_id = 0;
	u64 gfn = 0;
	u32 level = 0;
	u64 old_spte = 0, new_spte = 0;
};

// KVM_MMU_PAGE_PRINTK(): "sp gen %u gfn %llx l%u %u-byte q%u%s %s%s %snxe
// %sad root %u %s%c", plus " new"/" existing" for kvm_mmu_get_page.
struct MmuPage {
	u32 gen = 0;
	u64 gfn = 0;
	u32 level = 0;
	u32 gpte_bytes = 0;
	u32 quadrant = 0;
	bool direct = false;
	std::string_view access; // "wux", "-u-", ...
	bool invalid = false;
	bool efer_nx = false;
	bool ad_disabled = false;
	u32 root_count = 0;
	bool unsync = false;
	enum class Created : std::uint8_t { unknown, created, existing } created = Created::unknown;
};

// "gfn %llx spte %llx level %d errno %d"
struct SplitHugePage {
	u64 gfn = 0, spte = 0;
	int level = 0;
	int err = 0;
};

// "gfn %llx spte %llx (%s%s%s%s) level %d at %llx"
struct SetSpte {
	u64 gfn = 0, spte = 0;
	bool r = false, w = false, x = false;
	int u = -1; // -1: no user bit in this flavour (EPT)
	u32 level = 0;
	u64 at = 0; // physical address of the SPTE
};

// "gfn %llx pfn %llx level %d"
struct SpteRequested {
	u64 gfn = 0, pfn = 0;
	u32 level = 0;
};

// "vcpu %d gva %llx error_code %s sptep %p old %#llx new %llx spurious %d fixed %d"
struct FastPageFault {
	int vcpu = 0;
	u64 gva = 0;
	u32 error_code = 0; // PFERR_* bits from the __print_flags() names
	std::string_view sptep;
	u64 old_spte = 0, new_spte = 0;
	bool spurious = false, fixed = false;
};
inline constexpr u32 PFERR_PRESENT = 1u << 0, PFERR_WRITE = 1u << 1, PFERR_USER = 1u << 2,
		     PFERR_RSVD = 1u << 3, PFERR_FETCH = 1u << 4;

// "kvm-mmu-valid-gen %u used_pages %x"
struct ZapAllFast {
	u32 valid_gen = 0;
	u64 used_pages = 0;
};

// "sptep:%p gfn %llx access %x gen %x"
struct MarkMmioSpte {
	std::string_view sptep;
	u64 gfn = 0;
	u32 access = 0, gen = 0;
};

// ---- TDX events (docs/trace-format.md) ----

// "tdr %llx pwl %u x86_phys_bits %u"
struct TdParams {
	u64 tdr = 0;
	u32 pwl = 0;
	u32 phys_bits = 0;
};

// "leaf %s rcx %llx rdx %llx r8 %llx r9 %llx status %llx out_rcx %llx
// out_rdx %llx out_r8 %llx"; leaf is the TDX name, e.g. TDH.MEM.PAGE.AUG.
struct Seamcall {
	u32 leaf = 0; // the leaf number (tdx_abi::Leaf)
	std::string_view leaf_name;
	u64 rcx = 0, rdx = 0, r8 = 0, r9 = 0;
	u64 status = 0;
	u64 out_rcx = 0, out_rdx = 0, out_r8 = 0;
};

// tdx_vcpu_enter "tdvpr %llx"; tdx_vcpu_exit "tdvpr %llx status %llx".
struct VcpuRun {
	u64 tdvpr = 0;
	u64 status = 0;
};

enum class TdxHook : std::uint8_t { link_external_spt, set_external_spte, remove_external_spte, free_external_spt,
				    split_external_spt };
inline constexpr std::size_t NUM_TDX_HOOKS = 5;
std::string_view hook_name(TdxHook h);
std::optional<TdxHook> hook_by_name(std::string_view name);

// tdx_hook_enter "hook %s gfn %llx level %d arg %llx";
// tdx_hook_exit  "hook %s gfn %llx level %d ret %d".
struct HookCall {
	TdxHook hook = TdxHook::link_external_spt;
	u64 gfn = 0;
	u32 level = 0;
	u64 arg = 0; // enter: the SPTE (set/remove) or the external page's PA
	int ret = 0; // exit
};

// The name of a leaf a tdx_seamcall line may carry (tdx_abi::LeafName::traced),
// empty for any other number.
std::string_view tdx_leaf_name(u32 leaf);

TdParams decode_td_params(std::string_view payload, const Where& w);
Seamcall decode_seamcall(std::string_view payload, const Where& w);
VcpuRun decode_vcpu_run(std::string_view payload, const Where& w, bool exit);
HookCall decode_hook(std::string_view payload, const Where& w, bool exit);

SpteChanged decode_spte_changed(std::string_view payload, const Where& w);
MmuPage decode_mmu_page(std::string_view payload, const Where& w, bool with_created);
SplitHugePage decode_split_huge_page(std::string_view payload, const Where& w);
SetSpte decode_set_spte(std::string_view payload, const Where& w);
SpteRequested decode_spte_requested(std::string_view payload, const Where& w);
FastPageFault decode_fast_page_fault(std::string_view payload, const Where& w);
ZapAllFast decode_zap_all_fast(std::string_view payload, const Where& w);
MarkMmioSpte decode_mark_mmio_spte(std::string_view payload, const Where& w);

// ---- announced operations (docs/trace-format.md "Announced operations") ----
//
// A tracing_mark_write line whose payload starts with ARBORIST_OP_PREFIX
// (conform/announce.h, shared with the capture workload) announces an
// operation of the KVM user that has returned.  The checker verifies its
// effect on the reconstructed tables (docs/conformance.md "Bugs of omission").

enum class OpKind : std::uint8_t { memslot_add, memslot_delete, memslot_move, memslot_flags, unmap, dirty_log_get,
				   dirty_log_clear, vm_destroy };
inline constexpr std::size_t NUM_OP_KINDS = 8;
// KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 of the VM: off (GET write-protects),
// MANUAL_PROTECT_ENABLE, or that with INITIALLY_SET.
enum class DirtyMode : std::uint8_t { wrprot, manual, manual_initially_set };
enum class UnmapHow : std::uint8_t { madv_dontneed, munmap };

inline constexpr u32 KVM_MEM_LOG_DIRTY_PAGES_FLAG = 1u << 0, KVM_MEM_READONLY_FLAG = 1u << 1;

struct Announcement {
	OpKind op = OpKind::memslot_add;
	u32 vm = 0, as_id = 0, slot = 0;
	u64 gfn = 0, pages = 0; // the slot's range (move: the new one); unmap, clear: the range
	u64 old_gfn = 0;        // move
	u32 flags = 0, old_flags = 0;
	DirtyMode mode = DirtyMode::wrprot;
	u64 hva = 0;
	UnmapHow how = UnmapHow::madv_dontneed;
	bool operator==(const Announcement&) const = default;
};

// The format of each operation (conform/announce.h), in OpKind order.
std::string_view op_format(OpKind op);
std::string_view op_name(OpKind op);
// The text after the tracing_mark_write event name starts an announcement.
bool is_announcement(std::string_view payload);
// An announcement's payload; throws ParseError naming the field.
Announcement decode_announcement(std::string_view payload, const Where& w);
// "tracing_mark_write: arborist-op: ..."; decode_announcement of its payload
// gives a back.
std::string render(const Announcement& a);

// The inverse of the decoders: "EVENT: PAYLOAD" as the kernel (or
// tools/arborist-tdx.bt) prints it, for `arborist run --trace` and for
// reports.  decode_*(payload of render(x)) == x (conform.tests RoundTrip).
std::string render(const SpteChanged& e);
std::string render(const SpteRequested& e);
std::string render(const SplitHugePage& e);
// kvm_mmu_get_page (p.created set) or kvm_mmu_prepare_zap_page (unknown).
std::string render(const MmuPage& p);
std::string render(const TdParams& p);
std::string render(const Seamcall& c);
std::string render(const VcpuRun& r, bool exit);
std::string render(const HookCall& h, bool exit);

// A timestamp "<sec>.<fraction>" in seconds, or -1 for one without a
// decimal point (the counter and x86-tsc clocks: no unit).
double timestamp_seconds(std::string_view ts);

} // namespace arborist::conform
