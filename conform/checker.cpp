// SPDX-License-Identifier: GPL-2.0-only
//
// The conformance checker: reconstruction of the page-table trees from a
// trace, attribution of every traced change to one entry, the derivations
// of what the trace leaves out, and the per-event rules.  Every SPTE rule
// is a spec function (spec/arborist/spte.hpp, gfn.hpp) or a rule of
// derive.hpp; docs/conformance.md has them in prose with their sources.
//
// The derivations D1-D7 are those of docs/conformance.md ("What the trace
// leaves out"); D5, the CPU's A/D updates, is in derive.hpp.
//
// Sources cited below (docs/sources.md):
//   [README]   tests/data/linux-6.1-npt/README.md, "Line formats" and
//              the bullets of "What the trace leaves out", named here by
//              their first words: [README split] "Split children are not
//              traced", [README 5a0] "The final 5a0 to 0 step is not
//              traced", [README removed_pt] "handle_removed_pt traces every
//              child", [README fast] "The fast path changes SPTEs without
//              spte_changed", [README roots] "No events from the KVM roots
//              themselves";
//   Linux 6.1.192 and v6.19 arch/x86/kvm/mmu/tdp_mmu.c (handle_changed_spte(),
//   handle_removed_pt(), tdp_mmu_split_huge_page()), mmu.c, spte.h,
//   mmutrace.h; the upstream fixes listed in docs/sources.md by commit id.
#include "checker.hpp"

#include <algorithm>
#include <deque>
#include <array>
#include <bitset>
#include <optional>
#include <unordered_map>

#include "arborist/gfn.hpp"
#include "arborist/mirror_hook.hpp"
#include "arborist/spte.hpp"
#include "derive.hpp"
#include "tdx.hpp"

namespace arborist::conform {

using support::hex_digits;

// ---- the reconstructed state ------------------------------------------------

namespace {

using spec::u64;
constexpr const spec::Concrete& d = spec::concrete;
constexpr unsigned ENTRIES = spec::SPTE_ENT_PER_PAGE;
constexpr u64 NO_PFN = ~u64{0};
constexpr std::size_t HISTORY_RING = std::size_t{1} << 16; // events remembered for reports
constexpr std::size_t HISTORY_SHOWN = 8;                   // earlier events shown per violation
constexpr std::size_t SPARE_TABLES = 64;                   // freed tables kept for reuse
constexpr std::size_t MAX_MEMSLOTS = 4096;                 // announced memslots alive at once (all VMs)

// How a slot got a value: a traced change, or a derivation.
enum class Origin : std::uint8_t { traced, unfreeze, fast_fix, hardware_ad, reattributed };

// One entry of the history ring: a value change of one slot.
struct Record {
	u64 seq = 0;
	u64 prev = 0; // the slot's previous record
	u64 slot = 0; // table serial * ENTRIES + index
	u64 line = 0;
	u64 gfn = 0, old_spte = 0, new_spte = 0;
	u32 as_id = 0;
	u32 cpu = 0; // the CPU whose event made or implied the change
	unsigned level = 0;
	Origin origin = Origin::traced;
};

// A page table as the trace shows it.  Non-root tables are known by their
// PFN (the one the non-leaf SPTE linking them points to); roots by serial
// only, since no event gives a root's address [README roots].
struct Table {
	u64 serial = 0;
	u64 pfn = NO_PFN;
	u64 base_gfn = 0;
	unsigned level = 0;
	u32 as_id = 0;
	bool is_root = false;
	// Linked: the entry that points here.  Detached: nullptr.
	Table* parent = nullptr;
	unsigned parent_index = 0;
	// Roots.
	bool valid = true;
	u64 created_seq = 0, created_line = 0;
	// Detached (handle_removed_pt() in progress on teardown_cpu).
	bool detached = false;
	bool mirror = false; // a table of a mirror root (TDX: role.is_mirror, inherited by children)
	u64 tdr = 0;         // TDX: the TDR of a mirror root's TD, inherited by children (0: unknown)
	u32 teardown_cpu = 0;
	u64 detach_seq = 0, detach_line = 0;
	std::string detach_text;
	unsigned next_index = 0; // children below this index were handled
	bool orphan_reported = false;
	// The entries.
	unsigned present = 0;
	std::array<u64, ENTRIES> spte{};
	std::array<u64, ENTRIES> last_record{};
	std::bitset<ENTRIES> mmio;
};

struct SlotKey {
	u64 base;
	u32 level, as_id;
	bool operator==(const SlotKey&) const = default;
};
struct SlotKeyHash {
	std::size_t operator()(const SlotKey& k) const
	{
		const u64 h = (k.base * 0x9e3779b97f4a7c15ull) ^ (u64{k.level} << 56) ^ (u64{k.as_id} << 48);
		return static_cast<std::size_t>(h ^ (h >> 29));
	}
};

enum class Match : std::uint8_t { exact, hardware_ad, none };

// A slot that may be the one an event changed.
struct Candidate {
	Table* table = nullptr; // nullptr with from_pool: a fresh root
	bool from_pool = false;
	unsigned index = 0;
	u64 held = 0;
	Match match = Match::none;
	int rank = 0;
	bool affine = false; // in the tree this CPU changed last (see better())
	u64 order = 0;       // larger is preferred
	bool found() const { return table || from_pool; }
};

// Roots that hold nothing are interchangeable, so they are only counted
// (this bounds memory by the live trees, whatever the number of VMs).
struct RootPool {
	u64 count = 0;
	u64 newest_seq = 0, newest_line = 0;
};

// A non-present to non-present change waiting for mark_mmio_spte, which
// the fault path traces right after an MMIO SPTE is installed.
struct PendingNonpresent {
	u64 line = 0;
	std::string text;
	u64 table = 0;
	unsigned index = 0;
	u64 gfn = 0, old_spte = 0, new_spte = 0;
	bool excused = false; // the old value was MMIO
	std::string slot;
	std::vector<HistoryEntry> history;
};

struct Request {
	u64 gfn = 0, pfn = 0;
	unsigned level = 0;
	u64 line = 0;
};

// A fault from its kvm_mmu_spte_requested to its kvm_mmu_set_spte or
// mark_mmio_spte (tdp_mmu_map_handle_target_level()): one walk, under one
// rcu_read_lock().
struct OpenFault {
	u64 gfn = 0;
	unsigned level = 0;
	u64 order = 0; // next_order when it began
	u64 wrote = 0; // the table its install went to (serial; 0: none yet)
};

// The entry a CPU's open fault maps, kept when another CPU tore its table
// down and freed it meanwhile: the fault's walk holds rcu_read_lock() until
// its kvm_mmu_set_spte has read the entry, and the table is freed by
// call_rcu() (tdp_mmu_free_sp_rcu_callback()), so that read is of a table
// the trace no longer has.
struct RetiredSlot {
	u64 pfn = 0, gfn = 0, serial = 0, last_record = 0, value = 0;
	unsigned level = 0, index = 0;
	u64 detach_line = 0;
};

struct SplitNote {
	u64 gfn = 0, huge = 0;
	unsigned level = 0;
};

// TDX (docs/conformance.md "TDX traces"): the last external hook this CPU
// entered, and the S-EPT update a mirror change of this CPU still owes.
struct HookNote {
	HookCall call;
	u64 line = 0;
	std::string text;
	bool returned = false;
	int ret = 0;
	bool used = false; // an install was paired with it
	u64 tdr = 0;       // the TD of the SEAMCALL made inside it (SeamcallVerdict::tdr)
};

struct MirrorDue {
	spec::MirrorHook hook = spec::MirrorHook::none; // remove or split
	u64 table = 0;
	unsigned index = 0;
	u64 gfn = 0;
	unsigned level = 0;
	u64 line = 0;
	std::string text;
	bool demoted = false; // split: a DEMOTE of this entry succeeded
};

// TDX: this CPU's last install with no hook, taken as a direct root's: a
// kvm_mmu_set_spte naming a mirror table's entry shows it was a mirror SPTE.
struct UnhookedInstall {
	u64 table = 0;
	unsigned index = 0;
	u64 gfn = 0;
	unsigned level = 0;
	u64 old_spte = 0, new_spte = 0;
	u64 line = 0;
	std::string text;
};

// A zap of a leaf that several trees held with the same value (a page
// mapped in an invalidated root and in the new root that refilled it, or
// the children of one huge page split in two roots), attributed to one of
// them; `alts` are the others (see reattribute()).
struct AmbiguousZap {
	static constexpr std::size_t MAX_ALTS = 4;
	u64 line = 0;
	u64 gfn = 0;
	unsigned level = 0;
	u64 old_spte = 0, new_spte = 0;
	u64 chosen = 0, chosen_top = 0; // table serials
	unsigned index = 0;             // the same index in each (same level and gfn)
	std::array<std::pair<u64, u64>, MAX_ALTS> alts{}; // (table, its top)
	std::size_t n_alts = 0;
};

struct CpuState {
	u64 last_top = 0; // serial of the root (or unlinked table) of this CPU's last change
	// This CPU's latest consecutive ambiguous zaps (see reattribute()).
	std::vector<AmbiguousZap> ambiguous;
	std::optional<HookNote> hook;
	std::optional<UnhookedInstall> unhooked;
	std::optional<MirrorDue> mirror;
	std::vector<Table*> teardown; // handle_removed_pt() recursion, innermost last
	std::optional<PendingNonpresent> nonpresent;
	std::optional<Request> request;
	std::optional<OpenFault> fault;
	std::optional<RetiredSlot> retired; // of fault's entry
	std::optional<SplitNote> split;
};

std::string_view trimmed(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	return s;
}

std::string spte_changed_text(u32 as_id, u64 gfn, unsigned level, u64 old_spte, u64 new_spte)
{
	return render(SpteChanged{as_id, gfn, level, old_spte, new_spte});
}

// An event of a CPU held back by the linearization (see feed()): its line,
// re-parsed when it is applied, and its place in the trace.
struct HeldEvent {
	u64 seq = 0; // trace order among held events
	u32 cpu = 0, pid = 0;
	u64 line = 0;
	double time = -1; // the timestamp in seconds, if it has a decimal point
	std::string text;
	u64 others_applied = 0; // events of other CPUs applied when it was held (see drain())
	bool awaits_set_spte = false; // fits, but waits for its CPU's next event (see drain())
};

// The entry a fault's kvm_mmu_set_spte names ("at": table PFN and index).
struct EntryAddress {
	u64 pfn = 0;
	unsigned index = 0;
};

} // namespace

struct Checker::Impl {
	Impl(const Profile& p, bool partial, Sink s)
		: profile(p), f(p.flavor), sink(std::move(s)), root_level(p.root_level)
	{
		stats.root_level = root_level;
		if (partial)
			set_partial("--partial");
		if (p.tdx)
			tdx = std::make_unique<TdxReplay>();
	}

	const Profile& profile;
	const spec::SpteFlavor& f;
	Sink sink;
	Stats stats;

	std::unordered_map<u64, std::unique_ptr<Table>> tables; // by serial; owns every table
	std::unordered_map<u64, Table*> by_pfn;
	std::unordered_map<SlotKey, std::vector<Table*>, SlotKeyHash> by_key;
	std::vector<Table*> roots;
	RootPool pool;
	std::vector<std::unique_ptr<Table>> spare;
	std::vector<CpuState> cpus;
	std::vector<Record> ring;
	std::vector<Candidate> candidates;
	std::vector<std::pair<std::string, u64>> other_events;
	u64 next_serial = 0, next_seq = 1, next_order = 0;
	bool seen_root = false, seen_mmu_event = false;
	u32 current_cpu = 0; // the CPU of the event being applied
	// The linearization (feed()): events held per CPU, in trace order.
	std::vector<std::deque<HeldEvent>> held;
	std::vector<bool> known_cpu; // CPUs that traced an event
	u32 header_cpus = 0;         // CPUs the trace's header names (#P:N, cpus=N)
	u64 held_count = 0, held_seq = 0;
	std::unordered_map<u32, std::deque<u64>> held_by_task; // seqs of each task's held events
	u64 window_lines = DEFAULT_WINDOW_LINES;
	double window_seconds = DEFAULT_WINDOW_US * 1e-6;
	std::vector<double> newest_time; // per CPU, the latest timestamp fed (-1: none)
	std::string_view file;       // of the trace, for re-parsed held lines
	u64 feeding_line = 0;        // the line being fed
	double feeding_time = -1;    // its timestamp
	const HeldEvent* forced = nullptr; // a held event applied because no order explains it
	// What fits() found for the spte change it was asked about, reused when
	// the event is applied right after (the state has not changed since).
	struct Prepared {
		const char* text = nullptr; // the line's text, which identifies it
		SpteChanged event;
		Candidate candidate;
		SetSpte set;
		bool awaits_set_spte = false; // see awaits_set_spte()
	} prepared;
	// The entry the CPU's next event, a kvm_mmu_set_spte, names while the
	// fault's install before it is attributed (see drain()).
	std::optional<EntryAddress> install_hint;
	u64 applied_events = 0;
	std::vector<u64> applied_on; // per CPU

	u64 applied_on_others(u32 cpu) const { return applied_events - (cpu < applied_on.size() ? applied_on[cpu] : 0); }
	unsigned root_level;             // the profile's, or EPTP.PWL of the TD (tdx_td_params)
	std::unique_ptr<TdxReplay> tdx;  // linux-6.19-tdx only
	// The last by_key lookup: consecutive events mostly hit one table.
	SlotKey cached_key{~u64{0}, 0, 0};
	std::vector<Table*>* cached_tables = nullptr;

	// ---- SPTE predicates, all from spec/ -----------------------------------------
	bool present(u64 s) const { return spec::is_shadow_present_pte(d, f, s); }
	bool leaf(u64 s, unsigned level) const { return present(s) && spec::is_last_spte(d, f, s, u64{level}); }
	bool nonleaf(u64 s, unsigned level) const { return present(s) && !spec::is_last_spte(d, f, s, u64{level}); }
	bool frozen(u64 s) const { return spec::is_frozen_spte(d, f, s); }
	u64 pfn_of(u64 s) const { return spec::spte_to_pfn(d, f, s); }
	u64 child_pfn(u64 s, unsigned level) const { return nonleaf(s, level) ? pfn_of(s) : NO_PFN; }
	u64 nonpresent() const { return spec::nonpresent_spte(d, f); }
	u64 pages(unsigned level) const { return spec::pages_per_hpage(d, u64{level}); }
	u64 round_to(u64 gfn, unsigned level) const { return spec::gfn_round_for_level(d, gfn, u64{level}); }
	unsigned index_of(u64 gfn, unsigned level) const
	{
		return static_cast<unsigned>(spec::spte_index(d, spec::gfn_to_gpa(d, gfn), u64{level}));
	}
	u64 slot_gfn(const Table& t, unsigned i) const { return t.base_gfn + i * pages(t.level); }
	Match match(u64 held, u64 seen, unsigned level) const
	{
		if (held == seen)
			return Match::exact;
		return hardware_ad_update(d, f, held, seen, u64{level}) ? Match::hardware_ad : Match::none;
	}

	// ---- reporting -----------------------------------------------------------------
	void report(Violation&& v)
	{
		if (forced)
			v.message += forced_note();
		stats.violations++;
		sink(std::move(v));
	}

	Violation violation(std::string_view kind, u64 line, std::string_view text, std::string message)
	{
		const ViolationKind& k = violation_kind(kind);
		Violation v;
		v.kind = k.kind;
		v.rule = k.rule;
		v.source = k.source;
		v.line = line;
		v.event = std::string(trimmed(text));
		v.message = std::move(message);
		return v;
	}

	void set_partial(std::string reason)
	{
		if (stats.partial)
			return;
		stats.partial = true;
		stats.partial_reason = std::move(reason);
	}

	// ---- history ---------------------------------------------------------------------
	u64 add_record(Table& t, unsigned i, Origin o, u64 line, u64 old_spte, u64 new_spte)
	{
		const u64 seq = next_seq++;
		// The ring grows to HISTORY_RING as records come (seq counts from
		// 1), then wraps: a short trace does not pay for the whole ring.
		const std::size_t at = seq % HISTORY_RING;
		if (at >= ring.size())
			ring.resize(at + 1);
		Record& r = ring[at];
		r = Record{};
		r.seq = seq;
		r.prev = t.last_record[i];
		r.slot = t.serial * ENTRIES + i;
		r.line = line;
		r.gfn = slot_gfn(t, i);
		r.old_spte = old_spte;
		r.new_spte = new_spte;
		r.as_id = t.as_id;
		r.level = t.level;
		r.cpu = current_cpu;
		r.origin = o;
		t.last_record[i] = seq;
		return seq;
	}

	const Record* record(u64 seq) const
	{
		const std::size_t at = seq % HISTORY_RING;
		if (at >= ring.size())
			return nullptr;
		const Record& r = ring[at];
		return seq != 0 && r.seq == seq ? &r : nullptr;
	}

	HistoryEntry history_entry(const Record& r, unsigned index, bool derived_child) const
	{
		HistoryEntry h;
		h.line = r.line;
		if (derived_child) {
			const u64 child = spec::make_small_spte(d, f, r.old_spte, u64{r.level - 1}, u64{index});
			h.origin = "derived: split child (spec::make_small_spte)";
			h.event = "child " + std::to_string(index) + " of huge SPTE " + hex_digits(r.old_spte) + " = " +
				  hex_digits(child) + " (children of a split are not traced)";
			return h;
		}
		if (r.origin == Origin::traced) {
			h.origin = "traced";
			h.event = spte_changed_text(r.as_id, r.gfn, r.level, r.old_spte, r.new_spte);
			return h;
		}
		h.event = "gfn " + hex_digits(r.gfn) + " level " + std::to_string(r.level) + ": " + hex_digits(r.old_spte) + " -> " +
			  hex_digits(r.new_spte);
		switch (r.origin) {
		case Origin::unfreeze:
			h.origin = "derived: untraced write after the freeze (tdp_mmu_zap_spte_atomic)";
			break;
		case Origin::fast_fix:
			h.origin = "fast_page_fault: untraced fix by the fast path";
			break;
		case Origin::reattributed:
			h.origin = "the zap of this line was in another root (its CPU's walk went on there)";
			break;
		default:
			h.origin = "derived: A/D bits set by the CPU (untraced)";
			break;
		}
		return h;
	}

	std::vector<HistoryEntry> history(const Table& t, unsigned i) const
	{
		std::vector<HistoryEntry> out;
		const u64 slot = t.serial * ENTRIES + i;
		for (const Record* r = record(t.last_record[i]); r && out.size() < HISTORY_SHOWN; r = record(r->prev)) {
			const bool child = r->slot != slot; // the split that created this slot
			out.push_back(history_entry(*r, i, child));
			if (child)
				break;
		}
		std::reverse(out.begin(), out.end());
		return out;
	}

	const Table* top_of(const Table& t) const
	{
		const Table* p = &t;
		while (!p->is_root && !p->detached && p->parent)
			p = p->parent;
		return p;
	}

	std::string table_name(const Table& t) const
	{
		return "level-" + std::to_string(t.level) + " table pfn " + hex_digits(t.pfn) + " (gfn " + hex_digits(t.base_gfn) + "-" +
		       hex_digits(t.base_gfn + pages(t.level + 1) - 1) + ")";
	}

	std::string describe_table(const Table& t) const
	{
		if (t.is_root)
			return "root created at line " + std::to_string(t.created_line) + (t.valid ? " (valid)" : " (invalid)");
		const std::string s = table_name(t);
		const Table* top = top_of(t);
		if (t.detached)
			return s + ", unlinked at line " + std::to_string(t.detach_line);
		if (top->is_root)
			return s + " in the " + describe_table(*top);
		return s + " under a table unlinked at line " + std::to_string(top->detach_line);
	}

	std::string describe_slot(const Table& t, unsigned i) const
	{
		return describe_table(t) + ", index " + std::to_string(i) + " (level " + std::to_string(t.level) + ", gfn " +
		       hex_digits(slot_gfn(t, i)) + ") holding " + hex_digits(t.spte[i]);
	}

	Violation slot_violation(std::string_view kind, const Where& w, std::string_view text, std::string message,
				 const Table& t, unsigned i)
	{
		Violation v = violation(kind, w.line, text, std::move(message));
		v.slot = describe_slot(t, i);
		v.history = history(t, i);
		return v;
	}

	// ---- tables ---------------------------------------------------------------------
	Table& new_table()
	{
		std::unique_ptr<Table> t;
		if (!spare.empty()) {
			t = std::move(spare.back());
			spare.pop_back();
			*t = Table{};
		} else {
			t = std::make_unique<Table>();
		}
		t->serial = ++next_serial;
		t->spte.fill(nonpresent());
		Table& ref = *t;
		tables.emplace(ref.serial, std::move(t));
		stats.max_live_tables = std::max<u64>(stats.max_live_tables, tables.size());
		return ref;
	}

	Table* table_by_serial(u64 serial)
	{
		const auto it = tables.find(serial);
		return it == tables.end() ? nullptr : it->second.get();
	}

	Table* table_by_pfn(u64 pfn)
	{
		const auto it = by_pfn.find(pfn);
		return it == by_pfn.end() ? nullptr : it->second;
	}

	std::vector<Table*>* tables_at(const SlotKey& k)
	{
		if (cached_tables && k == cached_key)
			return cached_tables;
		const auto it = by_key.find(k);
		if (it == by_key.end())
			return nullptr;
		cached_key = k;
		cached_tables = &it->second;
		return cached_tables;
	}

	void index_table(Table& t)
	{
		by_pfn[t.pfn] = &t;
		by_key[SlotKey{t.base_gfn, t.level, t.as_id}].push_back(&t);
	}

	void unindex_table(Table& t)
	{
		const auto p = by_pfn.find(t.pfn);
		if (p != by_pfn.end() && p->second == &t)
			by_pfn.erase(p);
		const auto k = by_key.find(SlotKey{t.base_gfn, t.level, t.as_id});
		if (k == by_key.end())
			return;
		std::erase(k->second, &t);
		if (k->second.empty()) {
			if (cached_tables == &k->second)
				cached_tables = nullptr;
			by_key.erase(k);
		}
	}

	void drop_table(Table& t)
	{
		if (!t.is_root && t.detached)
			keep_retired_slots(t);
		if (t.is_root)
			std::erase(roots, &t);
		else
			unindex_table(t);
		const auto it = tables.find(t.serial);
		if (spare.size() < SPARE_TABLES)
			spare.push_back(std::move(it->second));
		tables.erase(it);
	}

	// A fault that began before t was unlinked may have walked into t, and
	// its kvm_mmu_set_spte may still read the entry it maps (RetiredSlot).
	void keep_retired_slots(const Table& t)
	{
		for (CpuState& cs : cpus) {
			// A fault that began after the unlink in the order the replay
			// chose, but whose install went to t, walked into t before it
			// was unlinked: the order of its kvm_mmu_spte_requested and
			// the unlink (two CPUs' events) is the replay's choice.
			if (!cs.fault || cs.fault->level != t.level ||
			    (cs.fault->order > t.detach_seq && cs.fault->wrote != t.serial))
				continue;
			const u64 gfn = round_to(cs.fault->gfn, t.level);
			if (gfn < t.base_gfn || gfn >= t.base_gfn + pages(t.level + 1))
				continue;
			const unsigned i = index_of(gfn, t.level);
			cs.retired = RetiredSlot{t.pfn, gfn, t.serial, t.last_record[i], t.spte[i], t.level, i, t.detach_line};
		}
	}

	void set_entry(Table& t, unsigned i, u64 v)
	{
		t.present += present(v) ? 1 : 0;
		t.present -= present(t.spte[i]) ? 1 : 0;
		t.spte[i] = v;
		t.mmio.reset(i);
	}

	// ---- roots (D7: [README roots], tdp_mmu.c kvm_tdp_mmu_get_root()) -----------------------------------
	Table& materialize_root(u32 as_id, bool mirror)
	{
		Table& r = new_table();
		r.mirror = mirror;
		r.tdr = mirror ? want_tdr : 0;
		r.is_root = true;
		r.level = root_level;
		r.as_id = as_id;
		r.created_seq = pool.newest_seq;
		r.created_line = pool.newest_line;
		pool.count--;
		roots.push_back(&r);
		return r;
	}

	// An emptied root goes back to the pool if it is valid; an invalid one
	// is dropped, since KVM never installs SPTEs in an invalid root.
	void release_root(Table& r)
	{
		if (r.valid) {
			pool.count++;
			pool.newest_seq = std::max(pool.newest_seq, r.created_seq);
		}
		drop_table(r);
	}

	// ---- teardown (D4: handle_removed_pt(), handle_changed_spte(), [README removed_pt]) ---------
	CpuState& cpu_state(u32 cpu)
	{
		if (cpu >= cpus.size())
			cpus.resize(cpu + 1);
		return cpus[cpu];
	}

	// The linked tables below t's present non-leaf entries, recursively.
	void discard_children(Table& t)
	{
		for (unsigned i = 0; i < ENTRIES; i++) {
			const u64 pfn = child_pfn(t.spte[i], t.level);
			Table* c = pfn != NO_PFN ? table_by_pfn(pfn) : nullptr;
			if (c && !c->detached && c->parent == &t && c->parent_index == i) {
				discard_children(*c);
				drop_table(*c);
			}
		}
	}

	void report_orphan(Table& t, const std::vector<unsigned>& missed, u64 detected_line, std::string_view how)
	{
		t.orphan_reported = true;
		std::string list;
		for (std::size_t k = 0; k < missed.size() && k < 8; k++)
			list += (k ? ", " : "") + std::string("index ") + std::to_string(missed[k]) + " gfn " +
				hex_digits(slot_gfn(t, missed[k])) + " = " + hex_digits(t.spte[missed[k]]);
		if (missed.size() > 8)
			list += ", ...";
		const std::string count = missed.size() == 1 ? "1 present child was" : std::to_string(missed.size()) +
											 " present children were";
		Violation v = violation("spte.orphaned-table", t.detach_line, t.detach_text,
					"this change unlinked the " + table_name(t) + ", but " + count +
						" never frozen (found at line " + std::to_string(detected_line) + ", " +
						std::string(how) + "): " + list);
		v.slot = describe_slot(t, missed.front());
		v.history = history(t, missed.front());
		report(std::move(v));
	}

	std::vector<unsigned> present_children(const Table& t, unsigned from, unsigned to) const
	{
		std::vector<unsigned> out;
		for (unsigned k = from; k < to; k++)
			if (present(t.spte[k]))
				out.push_back(k);
		return out;
	}

	// The teardown of t ended: every present child must have been frozen.
	void finish_table(Table& t, u64 line)
	{
		const std::vector<unsigned> left = present_children(t, 0, ENTRIES);
		if (!left.empty() && !t.orphan_reported)
			report_orphan(t, left, line, "where the teardown ended");
		discard_children(t);
		stats.tables_torn_down++;
		drop_table(t);
	}

	void finish_top(u32 cpu, u64 line)
	{
		std::vector<Table*>& st = cpus[cpu].teardown;
		Table* t = st.back();
		st.pop_back();
		finish_table(*t, line);
	}

	// Any event of this CPU outside its teardown ends the teardown:
	// handle_removed_pt() runs to completion under mmu_lock.
	void end_teardown(u32 cpu, u64 line)
	{
		if (cpu >= cpus.size())
			return;
		while (!cpus[cpu].teardown.empty())
			finish_top(cpu, line);
	}

	void finish_detached(Table& t, u64 line)
	{
		std::vector<Table*>& st = cpu_state(t.teardown_cpu).teardown;
		if (std::find(st.begin(), st.end(), &t) == st.end()) {
			finish_table(t, line);
			return;
		}
		while (st.back() != &t)
			finish_top(t.teardown_cpu, line);
		finish_top(t.teardown_cpu, line);
	}

	// An event on detached table t at index i from its teardown CPU: the
	// teardowns nested deeper have returned, and the loop over t's children
	// has passed every index below i, so a present child there was skipped.
	// Returns whether a table was finished (and freed).
	bool teardown_progress(u32 cpu, Table& t, unsigned i, u64 line)
	{
		std::vector<Table*>& st = cpu_state(cpu).teardown;
		const bool ours = t.detached && t.teardown_cpu == cpu && std::find(st.begin(), st.end(), &t) != st.end();
		const std::size_t depth = st.size();
		if (!ours) {
			end_teardown(cpu, line);
			return depth != 0;
		}
		while (st.back() != &t)
			finish_top(cpu, line);
		const std::vector<unsigned> missed = present_children(t, t.next_index, i);
		t.next_index = std::max(t.next_index, i + 1);
		if (!missed.empty() && !t.orphan_reported)
			report_orphan(t, missed, line, "where the teardown had moved past");
		return depth != st.size();
	}

	// resync: the change replaced a value the trace never showed (a lost
	// update, already reported), so the child's teardown is not checked.
	void detach_child(Table& t, unsigned i, u64 pfn, u32 cpu, const Where& w, std::string_view text, bool resync)
	{
		Table* c = table_by_pfn(pfn);
		if (!c || c->detached || c->parent != &t || c->parent_index != i)
			return; // a table the trace never linked (partial trace)
		c->detached = true;
		c->parent = nullptr;
		c->teardown_cpu = cpu;
		c->detach_seq = ++next_order;
		c->detach_line = w.line;
		c->detach_text = std::string(trimmed(text));
		c->orphan_reported = resync;
		cpu_state(cpu).teardown.push_back(c);
	}

	// ---- linking (D1 split children: [README split], tdp_mmu_split_huge_page()) ---------------------
	// A table page is linked in one place at a time; finding it still linked
	// elsewhere means its old parent entry changed without a trace.
	void replace_stale_table(Table& old, const Where& w, std::string_view text)
	{
		if (old.detached) {
			finish_detached(old, w.line);
			return;
		}
		const Table* parent = old.parent;
		Violation v = violation("spte.orphaned-table", w.line, text,
					"table pfn " + hex_digits(old.pfn) + " is linked here while the trace still has it linked as the " +
						describe_table(old) + ": its old parent entry was replaced without a traced "
								     "teardown");
		if (parent) {
			v.slot = describe_slot(*parent, old.parent_index);
			v.history = history(*parent, old.parent_index);
		}
		report(std::move(v));
		discard_children(old);
		drop_table(old);
	}

	void fill_split_children(Table& c, u64 huge, u64 seq)
	{
		for (unsigned k = 0; k < ENTRIES; k++) {
			c.spte[k] = spec::make_small_spte(d, f, huge, u64{c.level}, u64{k});
			c.present += present(c.spte[k]) ? 1 : 0;
			c.last_record[k] = seq;
		}
		stats.split_children += ENTRIES;
	}

	// Returns false if replacing a stale table freed t itself (a trace
	// that links a table into its own subtree).
	bool link_child(Table& t, unsigned i, u64 pfn, u64 held, u64 seq, const Where& w, std::string_view text)
	{
		if (Table* old = table_by_pfn(pfn)) {
			const u64 serial = t.serial;
			replace_stale_table(*old, w, text);
			if (!table_by_serial(serial))
				return false;
		}
		Table& c = new_table();
		c.pfn = pfn;
		c.level = t.level - 1;
		c.base_gfn = slot_gfn(t, i);
		c.as_id = t.as_id;
		c.mirror = t.mirror;
		c.tdr = t.tdr;
		c.parent = &t;
		c.parent_index = i;
		if (leaf(held, t.level))
			fill_split_children(c, held, seq);
		index_table(c);
		stats.tables_linked++;
		return true;
	}

	// D2: tdp_mmu_zap_spte_atomic() freezes the entry (traced), flushes,
	// then writes 0 with __kvm_tdp_mmu_write_spte(), untraced [README 5a0].
	// Children of a table being torn down stay frozen: the table is freed.
	void unfreeze(Table& t, unsigned i, u64 line)
	{
		const u64 was = t.spte[i];
		set_entry(t, i, nonpresent());
		add_record(t, i, Origin::unfreeze, line, was, nonpresent());
		stats.unfrozen++;
	}

	// Returns false if t was freed on the way (see link_child()).
	bool update_tree(Table& t, unsigned i, u64 held, u64 seq, u32 cpu, const Where& w, std::string_view text,
			 bool resync)
	{
		const u64 before = child_pfn(held, t.level), after = child_pfn(t.spte[i], t.level);
		if (before != NO_PFN && before != after)
			detach_child(t, i, before, cpu, w, text, resync);
		if (after != NO_PFN && after != before)
			return link_child(t, i, after, held, seq, w, text);
		return true;
	}

	void apply_change(Table& t, unsigned i, const SpteChanged& e, u32 cpu, const Where& w, std::string_view text)
	{
		const u64 held = t.spte[i];
		const bool resync = match(held, e.old_spte, t.level) == Match::none;
		const u64 seq = add_record(t, i, Origin::traced, w.line, e.old_spte, e.new_spte);
		set_entry(t, i, e.new_spte);
		if (!update_tree(t, i, held, seq, cpu, w, text, resync))
			return;
		if (frozen(e.new_spte) && (!t.detached || t.teardown_cpu != cpu))
			unfreeze(t, i, w.line);
		if (t.is_root && t.present == 0)
			release_root(t);
	}

	// ---- attribution -------------------------------------------------------------
	//
	// The tracepoint names (as id, level, gfn), not the table.  The candidates
	// are every live table covering that slot: the roots for the root level,
	// else the tables indexed by (as id, level, base gfn), linked or being
	// torn down, and a fresh root from the pool.  The chosen one holds old_spte
	// (exactly, else through a hardware A/D update); among those, by rank:
	//   0  a table this CPU is tearing down, for a freeze (handle_removed_pt());
	//   1  a linked table under a valid root, newest root first (a new root
	//      fills while an invalidated one is zapped; KVM never installs in an
	//      invalid root, is_page_fault_stale(), commit a955cad84cda);
	//   2  a linked table under an invalid root, newest first;
	//   3  a table another CPU is tearing down, for a freeze;
	//   4  a table inside a subtree being torn down;
	//   5  a table being torn down, for anything but a freeze.
	// With no holder, the best-ranked candidate is reported (lost update) and
	// takes the new value, so one bad event does not cascade.
	int rank(const Table& t, bool freeze, u32 cpu, u64& order) const
	{
		if (t.detached) {
			order = t.detach_seq;
			if (!freeze)
				return 5;
			return t.teardown_cpu == cpu ? 0 : 3;
		}
		const Table* top = top_of(t);
		if (!top->is_root) {
			order = top->detach_seq;
			return 4;
		}
		order = top->created_seq;
		return top->valid ? 1 : 2;
	}

	// Among slots that hold the same value (one page mapped in an
	// invalidated root and in the new root that refills it), a change of a
	// present value goes to the tree its CPU changed last: a zap walks one
	// root at a time (tdp_mmu_zap_root(), tdp_mmu_zap_leafs()), so the next
	// change of its CPU is in the same tree.  Installs are never affine:
	// KVM installs only in valid roots.
	static bool better(const Candidate& a, const Candidate& b)
	{
		if (a.match != b.match)
			return a.match < b.match;
		if ((a.rank == 0) != (b.rank == 0))
			return a.rank == 0;
		if (a.affine != b.affine)
			return a.affine;
		if (a.rank != b.rank)
			return a.rank < b.rank;
		return a.order > b.order;
	}

	// TDX: -1 any table, 0 direct roots' tables only, 1 mirror only; and
	// for a mirror install, the TD of its hook (0: any).  Two TDs map the
	// same GPAs, so their mirror tables are told apart by TD, not by value.
	int want_mirror = -1;
	u64 want_tdr = 0;

	void add_candidate(Table& t, unsigned i, u64 old_spte, bool freeze, u32 cpu)
	{
		if (want_mirror >= 0 && t.mirror != (want_mirror == 1))
			return;
		if (want_tdr && t.tdr && t.tdr != want_tdr)
			return;
		Candidate c;
		c.table = &t;
		c.index = i;
		c.held = t.spte[i];
		c.match = match(c.held, old_spte, t.level);
		c.rank = rank(t, freeze, cpu, c.order);
		c.affine = present(old_spte) && cpu < cpus.size() && cpus[cpu].last_top == top_of(t)->serial;
		candidates.push_back(c);
	}

	void collect_roots(u32 as_id, u64 gfn, u64 old_spte, bool freeze, u32 cpu)
	{
		if (round_to(gfn, root_level + 1) != 0)
			return; // beyond what a root maps
		const unsigned i = index_of(gfn, root_level);
		for (Table* r : roots)
			if (r->as_id == as_id)
				add_candidate(*r, i, old_spte, freeze, cpu);
		if (pool.count > 0) {
			Candidate c;
			c.from_pool = true;
			c.index = i;
			c.held = nonpresent();
			c.match = match(c.held, old_spte, root_level);
			c.rank = 1;
			c.order = pool.newest_seq;
			candidates.push_back(c);
		}
	}

	Candidate attribute(u32 as_id, unsigned level, u64 gfn, u64 old_spte, u64 new_spte, u32 cpu)
	{
		candidates.clear();
		const bool freeze = frozen(new_spte);
		if (level == root_level) {
			collect_roots(as_id, gfn, old_spte, freeze, cpu);
		} else if (std::vector<Table*>* ts = tables_at(SlotKey{round_to(gfn, level + 1), level, as_id})) {
			const unsigned i = index_of(gfn, level);
			for (Table* t : *ts)
				add_candidate(*t, i, old_spte, freeze, cpu);
		}
		Candidate best;
		for (const Candidate& c : candidates)
			if (!best.found() || better(c, best))
				best = c;
		if (install_hint)
			for (const Candidate& c : candidates)
				if (c.match != Match::none && c.table && !c.table->is_root && c.table->pfn == install_hint->pfn &&
				    c.index == install_hint->index)
					return c;
		return best;
	}

	// A fault's install that more than one table could have taken: the
	// slot of the same (as id, level, gfn) in two trees holds the old
	// value (an invalidated root being zapped and the valid root refilling
	// it; a table unlinked, not yet frozen, and the one that replaced it).
	// The fault's walk went down one of them, and the fault's own
	// kvm_mmu_set_spte names it: tdp_mmu_map_handle_target_level() traces
	// it right after tdp_mmu_set_spte_atomic() (6.1.192, 6.12.118, v6.19),
	// with sptep the entry that cmpxchg wrote, and nothing else of this
	// CPU's runs in between.  So the install waits for that event, and is
	// attributed to the entry it names (drain()).
	bool awaits_set_spte(const SpteChanged& e, u32 cpu) const
	{
		if (tdx || e.level >= root_level || !leaf(e.new_spte, e.level) || cpu >= cpus.size())
			return false;
		const std::optional<OpenFault>& fault = cpus[cpu].fault;
		if (!fault || fault->level != e.level || round_to(fault->gfn, e.level) != round_to(e.gfn, e.level))
			return false;
		std::size_t holders = 0;
		for (const Candidate& c : candidates)
			holders += c.table && c.match != Match::none;
		return holders > 1;
	}

	// ---- ambiguous zaps --------------------------------------------------------------
	//
	// A zap of a leaf that an invalidated root and the valid root refilling
	// it hold with the same value names one slot of several trees, and
	// nothing in the line says which: better() takes the tree the CPU changed last,
	// or the newest valid root.  A zap walks one root at a time
	// (__tdp_mmu_zap_root(), tdp_mmu_zap_leafs() under
	// for_each_tdp_mmu_root_yield_safe()), so when the same CPU's next
	// removal that only one tree explains is in another tree, its walk was
	// there: the ambiguous zaps before it that the tree could explain move
	// to it.  Only zaps of
	// direct (not mirror) leaves below the root whose two slots nobody has
	// changed since are moved; the history of both slots records the move.
	static constexpr std::size_t MAX_AMBIGUOUS = ENTRIES;

	bool is_leaf_zap(const SpteChanged& e) const
	{
		return leaf(e.old_spte, e.level) && !present(e.new_spte) && !frozen(e.new_spte);
	}

	void reattribute(u32 cpu, const Table& t, const Candidate& c, const SpteChanged& e, const Where& w)
	{
		CpuState& cs = cpu_state(cpu);
		const u64 top = top_of(t)->serial;
		AmbiguousZap z{w.line, e.gfn, e.level, e.old_spte, e.new_spte, t.serial, top, c.index};
		if (is_leaf_zap(e) && !t.mirror && !t.is_root && c.match == Match::exact) {
			// The candidates again: a prepared attribution (see feed())
			// leaves those of a later attempt.
			attribute(e.as_id, e.level, round_to(e.gfn, e.level), e.old_spte, e.new_spte, cpu);
			for (const Candidate& o : candidates)
				if (o.table && o.table != &t && o.match == Match::exact && !o.table->mirror &&
				    top_of(*o.table)->serial != top && z.n_alts < AmbiguousZap::MAX_ALTS)
					z.alts[z.n_alts++] = {o.table->serial, top_of(*o.table)->serial};
		}
		if (z.n_alts) {
			if (cs.ambiguous.size() == MAX_AMBIGUOUS)
				cs.ambiguous.erase(cs.ambiguous.begin());
			cs.ambiguous.push_back(z);
			return;
		}
		// Only a removal continues a walk (installs come from faults), and
		// a removal of a slot an ambiguous zap could have taken is the
		// next walk, of that slot's root: then the zaps stay where they are.
		if (!cs.ambiguous.empty() && present(e.old_spte) && !present(e.new_spte) &&
		    !rewalk(cs.ambiguous, t.serial, c.index))
			for (const AmbiguousZap& a : cs.ambiguous)
				for (std::size_t k = 0; k < a.n_alts; k++)
					if (a.chosen_top != top && a.alts[k].second == top)
						move_zap(a, a.alts[k].first);
		cs.ambiguous.clear();
	}

	static bool rewalk(const std::vector<AmbiguousZap>& zaps, u64 table, unsigned index)
	{
		for (const AmbiguousZap& a : zaps)
			for (std::size_t k = 0; k < a.n_alts; k++)
				if (a.alts[k].first == table && a.index == index)
					return true;
		return false;
	}

	void move_zap(const AmbiguousZap& z, u64 to_serial)
	{
		Table* from = table_by_serial(z.chosen);
		Table* to = table_by_serial(to_serial);
		if (!from || !to || from->spte[z.index] != z.new_spte || to->spte[z.index] != z.old_spte)
			return;
		add_record(*from, z.index, Origin::reattributed, z.line, z.new_spte, z.old_spte);
		set_entry(*from, z.index, z.old_spte);
		add_record(*to, z.index, Origin::traced, z.line, z.old_spte, z.new_spte);
		set_entry(*to, z.index, z.new_spte);
		stats.reattributed++;
	}

	// ---- kvm_tdp_mmu_spte_changed ---------------------------------------------------------
	// A trace that starts at the beginning shows a root created before any
	// other MMU event (the root is allocated before the vCPU's first fault).
	void note_first_mmu_event(const Where& w)
	{
		if (seen_mmu_event)
			return;
		seen_mmu_event = true;
		if (!seen_root)
			set_partial("line " + std::to_string(w.line) +
				    ": the first MMU event is not a root creation (kvm_mmu_get_page ... new), so the trace "
				    "starts after the VM did");
	}

	bool level_ok(unsigned level) const { return level >= spec::PG_LEVEL_4K && level <= root_level; }

	bool check_level(const SpteChanged& e, const TraceLine& tl, const Where& w)
	{
		if (level_ok(e.level))
			return true;
		report(violation("spte.bad-level", w.line, tl.text,
				 "level " + std::to_string(e.level) + " is outside 1.." + std::to_string(root_level)));
		return false;
	}

	void check_values(const SpteChanged& e, const TraceLine& tl, const Where& w)
	{
		if (e.gfn != round_to(e.gfn, e.level))
			report(violation("spte.misaligned", w.line, tl.text,
					 "gfn " + hex_digits(e.gfn) + " is not aligned to level " + std::to_string(e.level) +
						 " (spec::gfn_round_for_level gives " + hex_digits(round_to(e.gfn, e.level)) + ")"));
		if (leaf(e.old_spte, e.level) && leaf(e.new_spte, e.level) && pfn_of(e.old_spte) != pfn_of(e.new_spte))
			report(violation("spte.pfn-change", w.line, tl.text,
					 "present leaf " + hex_digits(e.old_spte) + " (pfn " + hex_digits(pfn_of(e.old_spte)) +
						 ") replaced by present leaf " + hex_digits(e.new_spte) + " (pfn " +
						 hex_digits(pfn_of(e.new_spte)) + ")"));
		// A zap writes SHADOW_NONPRESENT_VALUE (0 before v6.10; BIT(63) from
		// v6.10 on x86-64, which EPT reads as SUPPRESS_VE), or the frozen
		// value on its way there; nothing else makes a present SPTE non-present.
		if (present(e.old_spte) && !present(e.new_spte) && e.new_spte != nonpresent() &&
		    !spec::is_frozen_spte(d, f, e.new_spte))
			report(violation("spte.nonpresent-value", w.line, tl.text,
					 "present " + hex_digits(e.old_spte) + " zapped to " + hex_digits(e.new_spte) +
						 ", which is neither this profile's SHADOW_NONPRESENT_VALUE " +
						 hex_digits(nonpresent()) + " nor its frozen value " + hex_digits(f.frozen)));
		if (leaf(e.new_spte, e.level) && !spec::spte_writable_invariant(d, f, e.new_spte))
			report(violation("spte.writable", w.line, tl.text,
					 "new leaf " + hex_digits(e.new_spte) + ": W=" + std::to_string(spec::is_writable_pte(d, f, e.new_spte)) +
						 " MMU-writable=" + std::to_string(spec::is_mmu_writable_spte(d, f, e.new_spte)) +
						 " host-writable=" + std::to_string(spec::is_host_writable_spte(d, f, e.new_spte))));
	}

	void no_slot(const SpteChanged& e, const TraceLine& tl, const Where& w)
	{
		if (stats.partial) {
			stats.unattributed++;
			return;
		}
		report(violation("spte.unreachable", w.line, tl.text,
				 "no page table reconstructed so far holds the level-" + std::to_string(e.level) +
					 " entry of gfn " + hex_digits(e.gfn) + " in address space " + std::to_string(e.as_id) + " (" +
					 std::to_string(roots.size()) + " non-empty root(s), " + std::to_string(pool.count) +
					 " empty)"));
	}

	void check_held(const Candidate& c, Table& t, const SpteChanged& e, const TraceLine& tl, const Where& w)
	{
		if (c.match == Match::hardware_ad) {
			set_entry(t, c.index, e.old_spte);
			add_record(t, c.index, Origin::hardware_ad, w.line, c.held, e.old_spte);
			stats.hardware_ad++;
		} else if (c.match == Match::none) {
			report(slot_violation("spte.lost-update", w, tl.text,
					      "old_spte " + hex_digits(e.old_spte) + ", but the slot held " + hex_digits(c.held), t,
					      c.index));
		}
	}

	void check_nonpresent_change(const Candidate& c, Table& t, const SpteChanged& e, const TraceLine& tl,
				     const Where& w)
	{
		if (present(e.old_spte) || present(e.new_spte) || frozen(e.new_spte))
			return;
		CpuState& cs = cpu_state(tl.cpu);
		if (cs.nonpresent)
			settle_nonpresent(cs, nullptr);
		PendingNonpresent p;
		p.line = w.line;
		p.text = std::string(trimmed(tl.text));
		p.table = t.serial;
		p.index = c.index;
		p.gfn = e.gfn;
		p.old_spte = e.old_spte;
		p.new_spte = e.new_spte;
		p.excused = c.match != Match::none && t.mmio.test(c.index);
		p.slot = describe_slot(t, c.index);
		p.history = history(t, c.index);
		cs.nonpresent = std::move(p);
	}

	// D6: MMIO is learned from the trace, not from a mask (the MMIO value
	// depends on the host's MAXPHYADDR): the fault path traces
	// mark_mmio_spte right after installing an MMIO SPTE
	// (tdp_mmu_map_handle_target_level()).
	void settle_nonpresent(CpuState& cs, const MarkMmioSpte* mark)
	{
		PendingNonpresent& p = *cs.nonpresent;
		if (mark && mark->gfn == p.gfn) {
			Table* t = table_by_serial(p.table);
			if (t && t->spte[p.index] == p.new_spte) {
				t->mmio.set(p.index);
				stats.mmio_installs++;
			}
		} else if (!p.excused) {
			Violation v = violation("spte.nonpresent-change", p.line, p.text,
						"non-present " + hex_digits(p.old_spte) + " -> non-present " + hex_digits(p.new_spte) +
							": not a freeze, the old value is not an MMIO SPTE and no "
							"mark_mmio_spte for gfn " + hex_digits(p.gfn) + " follows");
			v.slot = std::move(p.slot);
			v.history = std::move(p.history);
			report(std::move(v));
		}
		cs.nonpresent.reset();
	}

	void check_request(const SpteChanged& e, u64 gfn, const TraceLine& tl, const Where& w)
	{
		CpuState& cs = cpu_state(tl.cpu);
		if (!cs.request || e.level != cs.request->level || gfn != round_to(cs.request->gfn, e.level) ||
		    !leaf(e.new_spte, e.level))
			return;
		const Request r = *cs.request;
		cs.request.reset();
		if (r.pfn & ~(f.pfn_mask >> spec::PAGE_SHIFT))
			return; // KVM_PFN_NOSLOT or an error PFN: an MMIO fault
		const u64 want = pfn_round_for_level(d, r.pfn, u64{e.level});
		if (pfn_of(e.new_spte) != want)
			report(violation("spte.wrong-pfn", w.line, tl.text,
					 "installed pfn " + hex_digits(pfn_of(e.new_spte)) + ", but kvm_mmu_spte_requested at line " +
						 std::to_string(r.line) + " announced pfn " + hex_digits(r.pfn) +
						 (want == r.pfn ? std::string()
								: " (" + hex_digits(want) + " aligned to level " +
									  std::to_string(e.level) + ")")));
	}

	// A huge leaf replaced by a table is a split (tdp_mmu_split_huge_page()
	// is the only writer of that change); kvm_mmu_split_huge_page follows.
	void note_split(const SpteChanged& e, u32 cpu)
	{
		if (leaf(e.old_spte, e.level) && nonleaf(e.new_spte, e.level))
			cpu_state(cpu).split = SplitNote{e.gfn, e.old_spte, e.level};
	}

	// Attribution, re-done if finishing this CPU's teardown freed the
	// chosen table (a table inside a subtree that was being torn down).
	Candidate attribute_and_progress(const SpteChanged& e, u64 gfn, u32 cpu, const Where& w, bool reuse)
	{
		Candidate c = reuse ? prepared.candidate : attribute(e.as_id, e.level, gfn, e.old_spte, e.new_spte, cpu);
		if (!c.table) {
			end_teardown(cpu, w.line);
			return c;
		}
		const u64 serial = c.table->serial;
		if (teardown_progress(cpu, *c.table, c.index, w.line) && !table_by_serial(serial))
			c = attribute(e.as_id, e.level, gfn, e.old_spte, e.new_spte, cpu);
		return c;
	}

	void on_spte_changed(const TraceLine& tl, const Where& w)
	{
		const bool reuse = prepared.text == tl.text.data();
		prepared.text = nullptr;
		SpteChanged e = reuse ? prepared.event : decode_spte_changed(tl.payload, w);
		// A walk of a whole root (__tdp_mmu_zap_root(): gfn_bits 0 over
		// [0, tdp_mmu_max_gfn_exclusive())) traces a direct root's entries
		// above the shared bit with it; the fault path's walks trace them
		// without it (iter->gfn excludes gfn_bits, v6.19 tdp_iter.h).
		// Both name one slot of a direct root; a mirror walk never has it.
		bool shared_alias = false;
		if (tdx) {
			const spec::TdGeometry g{root_level};
			const u64 bits = spec::gfn_direct_bits(d, g);
			shared_alias = (e.gfn & bits) != 0 && spec::gfn_within_gpaw(d, g, e.gfn);
			if (shared_alias)
				e.gfn = spec::fault_gfn(d, g, spec::gfn_to_gpa(d, e.gfn));
		}
		if (!check_level(e, tl, w)) {
			end_teardown(tl.cpu, w.line);
			return;
		}
		const u64 gfn = round_to(e.gfn, e.level);
		check_values(e, tl, w);
		note_split(e, tl.cpu);
		const bool paired = tdx && pair_install(e, tl.cpu);
		want_mirror = !tdx ? -1 : paired ? 1 : (shared_alias || (!present(e.old_spte) && present(e.new_spte))) ? 0 : -1;
		// An install with no hook that no direct table can take is a mirror
		// SPTE installed without link/set_external_spte (mirror_changed()
		// reports it).
		if (want_mirror == 0 && !shared_alias &&
		    !attribute(e.as_id, e.level, gfn, e.old_spte, e.new_spte, tl.cpu).found())
			want_mirror = 1;
		const Candidate c = attribute_and_progress(e, gfn, tl.cpu, w, reuse);
		if (!c.found()) {
			want_mirror = -1;
			want_tdr = 0;
			no_slot(e, tl, w);
			return;
		}
		Table& t = c.from_pool ? materialize_root(e.as_id, want_mirror == 1) : *c.table;
		want_mirror = -1;
		want_tdr = 0;
		if (tdx && !paired && !t.mirror && !present(e.old_spte) && present(e.new_spte))
			cpu_state(tl.cpu).unhooked = UnhookedInstall{t.serial, c.index, gfn, e.level, e.old_spte, e.new_spte,
								     w.line, std::string(trimmed(tl.text))};
		check_held(c, t, e, tl, w);
		check_nonpresent_change(c, t, e, tl, w);
		check_request(e, gfn, tl, w);
		const u64 serial = t.serial;
		const bool mirror = t.mirror;
		const unsigned index = c.index;
		reattribute(tl.cpu, t, c, e, w);
		cpu_state(tl.cpu).last_top = top_of(t)->serial;
		note_fault_write(cpu_state(tl.cpu), t, e);
		apply_change(t, c.index, e, tl.cpu, w, tl.text);
		if (mirror)
			mirror_changed(serial, index, e, gfn, paired, tl, w);
	}

	// ---- TDX: mirror roots and the S-EPT (docs/conformance.md "TDX traces") -------------
	//
	// set_external_spte_present() (Linux v6.19 tdp_mmu.c) freezes the mirror SPTE, calls set_external_spte or
	// link_external_spt, and writes the new value untraced; the trace line of
	// the change follows the hook's return.  So an install (non-present to
	// present) right after this CPU's successful link/set hook for that GFN
	// and level is a mirror SPTE, and any other install is a direct one.
	bool pair_install(const SpteChanged& e, u32 cpu)
	{
		if (present(e.old_spte) || !present(e.new_spte))
			return false;
		CpuState& cs = cpu_state(cpu);
		if (!cs.hook || !cs.hook->returned || cs.hook->used || cs.hook->ret != 0 || cs.hook->call.gfn != e.gfn ||
		    cs.hook->call.level != e.level ||
		    (cs.hook->call.hook != TdxHook::link_external_spt && cs.hook->call.hook != TdxHook::set_external_spte))
			return false;
		cs.hook->used = true;
		want_tdr = cs.hook->tdr;
		return true;
	}

	// The hook a change of a mirror SPTE calls is the spec's decision
	// (spec/arborist/mirror_hook.hpp).  Without a paired link/set hook the
	// change went through tdp_mmu_set_spte() (seed 001's split included) or
	// handle_removed_pt(), which freezes a child and then calls
	// remove_external_spte() for it (the hook returns early for a non-leaf).
	void mirror_changed(u64 serial, unsigned index, const SpteChanged& e, u64 gfn, bool paired, const TraceLine& tl,
			    const Where& w)
	{
		Table* t = table_by_serial(serial);
		if (paired) {
			if (t)
				check_sync(*t, index, gfn, e.level, w.line, tl.text,
					   "after " + std::string(hook_name(cpu_state(tl.cpu).hook->call.hook)));
			return;
		}
		spec::MirrorHook h;
		if (frozen(e.new_spte))
			h = leaf(e.old_spte, e.level) ? spec::MirrorHook::remove : spec::MirrorHook::none;
		else
			h = static_cast<spec::MirrorHook>(
				spec::mirror_hook_nonatomic(d, f, e.old_spte, e.new_spte, u64{e.level}, d.truth(true)));
		if (h == spec::MirrorHook::remove || h == spec::MirrorHook::split) {
			MirrorDue m;
			m.hook = h;
			m.table = serial;
			m.index = index;
			m.gfn = gfn;
			m.level = e.level;
			m.line = w.line;
			m.text = std::string(trimmed(tl.text));
			cpu_state(tl.cpu).mirror = std::move(m);
		} else if (h == spec::MirrorHook::bug && present(e.new_spte)) {
			Violation v = violation("mirror.unsynced", w.line, tl.text,
						"mirror SPTE " + hex_digits(e.old_spte) + " -> " + hex_digits(e.new_spte) +
							" without link_external_spt/set_external_spte: the S-EPT is not "
							"updated (spec::mirror_hook_nonatomic gives a KVM bug)");
			if (t) {
				v.slot = describe_slot(*t, index);
				v.history = history(*t, index);
			}
			report(std::move(v));
		}
	}

	// The mirror SPTE and the S-EPT entry of (gfn, level) agree: a present
	// leaf is a MAPPED or PENDING S-EPT leaf of the same page, a present
	// non-leaf an NL_MAPPED entry, a non-present SPTE a FREE/REMOVED (or
	// unreachable) entry.  Only while one TD has its HKID (before that the
	// S-EPT is being built, after it the module's tree is dead).
	void check_sync(const Table* t, unsigned index, u64 mirror_value, u64 gfn, unsigned level, u64 line,
			std::string_view text, const std::string& when, u64 tdr = 0)
	{
		const u64 pfn = leaf(mirror_value, level) ? pfn_of(mirror_value) : NO_PFN;
		const std::optional<SeptSlot> s = tdx->sept_of_live_td(gfn, level, pfn, t && t->tdr ? t->tdr : tdr);
		if (!s)
			return;
		using SS = spec::SeptState;
		bool ok;
		if (leaf(mirror_value, level))
			ok = s->reached && (s->state == SS::MAPPED || s->state == SS::PENDING) && s->hpa == s->sim_page;
		else if (present(mirror_value))
			ok = s->reached && s->state == SS::NL_MAPPED;
		else
			ok = !s->reached || s->state == SS::FREE || s->state == SS::REMOVED;
		if (ok)
			return;
		stats.mirror_checks_failed++;
		const std::string sept = !s->reached ? std::string("not reachable")
						     : "state " + std::string(sept_state_name(s->state)) +
							       (s->hpa ? " (simulated hpa " + hex_digits(s->hpa) + ")" : "");
		Violation v = violation("mirror.unsynced", line, text,
					"mirror SPTE " + hex_digits(mirror_value) + " at gfn " + hex_digits(gfn) + " level " +
						std::to_string(level) + ", but the S-EPT entry is " + sept + " " + when +
						(s->sim_page != NO_PFN && leaf(mirror_value, level)
							 ? " (the mirror's pfn " + hex_digits(pfn) + " is simulated hpa " + hex_digits(s->sim_page) + ")"
							 : std::string()));
		if (t) {
			v.slot = describe_slot(*t, index);
			v.history = history(*t, index);
		}
		report(std::move(v));
	}

	void check_sync(Table& t, unsigned index, u64 gfn, unsigned level, u64 line, std::string_view text,
			const std::string& when)
	{
		stats.mirror_checks++;
		check_sync(&t, index, t.spte[index], gfn, level, line, text, when);
	}

	static std::string_view sept_state_name(spec::SeptState st)
	{
		using SS = spec::SeptState;
		switch (st) {
		case SS::NL_MAPPED: return "NL_MAPPED";
		case SS::NL_BLOCKED: return "NL_BLOCKED";
		case SS::REMOVED: return "REMOVED";
		case SS::FREE: return "FREE";
		case SS::MAPPED: return "MAPPED";
		case SS::BLOCKEDW: return "BLOCKEDW";
		case SS::BLOCKED: return "BLOCKED";
		case SS::PENDING: return "PENDING";
		case SS::PENDING_BLOCKEDW: return "PENDING_BLOCKEDW";
		case SS::PENDING_BLOCKED: return "PENDING_BLOCKED";
		}
		return "?";
	}

	// The mirror entry of (gfn, level) under a valid mirror root of the TD
	// of TDR `tdr` (0: of any TD), if any.
	std::pair<Table*, unsigned> mirror_slot(u64 gfn, unsigned level, u64 tdr)
	{
		auto of_td = [&](const Table* t) { return !tdr || !t->tdr || t->tdr == tdr; };
		if (level == root_level) {
			for (Table* r : roots)
				if (r->mirror && r->valid && of_td(r))
					return {r, index_of(gfn, level)};
			return {nullptr, 0};
		}
		if (level < spec::PG_LEVEL_4K || level > root_level)
			return {nullptr, 0};
		if (std::vector<Table*>* ts = tables_at(SlotKey{round_to(gfn, level + 1), level, 0}))
			for (Table* t : *ts)
				if (t->mirror && of_td(t) && !t->detached && top_of(*t)->is_root && top_of(*t)->valid)
					return {t, index_of(gfn, level)};
		return {nullptr, 0};
	}

	// A mirror change that owes an S-EPT update is settled: by its hook's
	// return (exit), or by the next MMU event of the CPU without it.
	void settle_mirror(CpuState& cs, const HookCall* exit, u64 line)
	{
		MirrorDue m = std::move(*cs.mirror);
		cs.mirror.reset();
		Table* t = table_by_serial(m.table);
		const bool hooked = exit && exit->gfn == m.gfn && exit->level == m.level &&
				    exit->hook == (m.hook == spec::MirrorHook::split ? TdxHook::split_external_spt
										     : TdxHook::remove_external_spte);
		if (m.hook == spec::MirrorHook::split && !m.demoted) {
			Violation v = violation("mirror.huge", m.line, m.text,
						"the mirror leaf at gfn " + hex_digits(m.gfn) + " level " + std::to_string(m.level) +
							" became a non-leaf, but " +
							(hooked ? std::string("split_external_spt returned without a successful "
									      "TDH.MEM.PAGE.DEMOTE of it")
								: "no split_external_spt with a TDH.MEM.PAGE.DEMOTE of it followed "
								  "(found at line " + std::to_string(line) + ")"));
			if (t) {
				v.slot = describe_slot(*t, m.index);
				v.history = history(*t, m.index);
			}
			report(std::move(v));
			return;
		}
		if (t && t->detached)
			t = nullptr; // a frozen child of a table being torn down: the mirror side is gone
		const u64 value = t ? t->spte[m.index] : nonpresent();
		stats.mirror_checks++;
		check_sync(t, m.index, value, m.gfn, m.level, m.line, m.text,
			   hooked ? "after " + std::string(hook_name(exit->hook)) + " returned (line " + std::to_string(line) + ")"
				  : "and no " + std::string(m.hook == spec::MirrorHook::split ? "split_external_spt"
											  : "remove_external_spte") +
					    " followed (found at line " + std::to_string(line) + ")");
	}

	void on_td_params(const TraceLine& tl, const Where& w)
	{
		const TdParams p = decode_td_params(tl.payload, w);
		if (!tdx)
			return;
		tdx->td_params(p, w);
		// The roots are EPTP.PWL levels deep (tdx_td_init(), spec::TdGeometry).
		if (roots.empty() && pool.count == 0) {
			root_level = p.pwl;
			stats.root_level = root_level;
		}
	}

	// The recent TDX events by the GPA they concern (S-EPT leaves: RCX page
	// info; hooks: the gfn), for "earlier events on this slot".
	struct TdxRecord {
		u64 gpa = 0;
		u64 line = 0;
		std::string text;
	};
	std::vector<TdxRecord> tdx_ring;
	std::size_t tdx_ring_next = 0;
	static constexpr std::size_t TDX_RING = 4096;

	void note_tdx(u64 gpa, const TraceLine& tl, const Where& w)
	{
		TdxRecord r{gpa, w.line, std::string(trimmed(tl.text))};
		if (tdx_ring.size() < TDX_RING)
			tdx_ring.push_back(std::move(r));
		else
			tdx_ring[tdx_ring_next] = std::move(r);
		tdx_ring_next = (tdx_ring_next + 1) % TDX_RING;
	}

	std::vector<HistoryEntry> tdx_history(u64 gpa, u64 before) const
	{
		std::vector<HistoryEntry> out;
		for (std::size_t k = 0; k < tdx_ring.size() && out.size() < HISTORY_SHOWN; k++) {
			const TdxRecord& r = tdx_ring[(tdx_ring_next + TDX_RING - 1 - k) % TDX_RING % std::max<std::size_t>(tdx_ring.size(), 1)];
			if (r.gpa == gpa && r.line < before)
				out.push_back({{}, r.line, "traced", r.text});
		}
		std::reverse(out.begin(), out.end());
		return out;
	}

	void report_seamcall(SeamcallVerdict& v, const TraceLine& tl, const Where& w, std::optional<u64> gpa = {})
	{
		if (v.kind.empty())
			return;
		Violation x = violation(v.kind, w.line, tl.text, std::move(v.message));
		if (!v.check.empty())
			x.slot = "spec check: " + v.check;
		if (gpa)
			x.history = tdx_history(*gpa, w.line);
		report(std::move(x));
	}

	void on_seamcall(const TraceLine& tl, const Where& w)
	{
		const Seamcall c = decode_seamcall(tl.payload, w);
		if (!tdx)
			return;
		SeamcallVerdict v = tdx->seamcall(c, w, tl.cpu);
		if (CpuState& hs = cpu_state(tl.cpu); hs.hook && !hs.hook->returned && v.tdr)
			hs.hook->tdr = v.tdr;
		std::optional<u64> gpa;
		for (const spec::SeptLeafInfo& i : spec::sept_leaves)
			if (i.walks && static_cast<u32>(i.leaf) == c.leaf)
				gpa = c.rcx & hw::sim::GPA_MASK;
		report_seamcall(v, tl, w, gpa);
		if (gpa)
			note_tdx(*gpa, tl, w);
		if (!v.sept_changed)
			return;
		CpuState& cs = cpu_state(tl.cpu);
		const unsigned level = v.tdx_level + 1;
		const u64 gfn = spec::gpa_to_gfn(d, v.gpa);
		if (cs.mirror && cs.mirror->hook == spec::MirrorHook::split &&
		    c.leaf == static_cast<u32>(tdx_abi::Leaf::TDH_MEM_PAGE_DEMOTE) && cs.mirror->gfn == gfn &&
		    cs.mirror->level == level)
			cs.mirror->demoted = true;
		if (cs.hook && !cs.hook->returned)
			return; // inside a hook: its S-EPT update is checked when the mirror side is known
		// An S-EPT change outside any external hook: the mirror must agree
		// with it right away.
		const auto [t, i] = mirror_slot(gfn, level, v.tdr);
		stats.mirror_checks++;
		check_sync(t, i, t ? t->spte[i] : nonpresent(), gfn, level, w.line, tl.text,
			   "after a " + std::string(c.leaf_name) + " outside any external hook", v.tdr);
	}

	void on_vcpu(const TraceLine& tl, const Where& w, bool exit)
	{
		const VcpuRun r = decode_vcpu_run(tl.payload, w, exit);
		if (!tdx)
			return;
		SeamcallVerdict v = exit ? tdx->vcpu_exit(r, w, tl.cpu) : tdx->vcpu_enter(r, w, tl.cpu);
		report_seamcall(v, tl, w);
	}

	void on_hook(const TraceLine& tl, const Where& w, bool exit)
	{
		const HookCall h = decode_hook(tl.payload, w, exit);
		if (!tdx)
			return;
		note_tdx(spec::gfn_to_gpa(d, h.gfn), tl, w);
		CpuState& cs = cpu_state(tl.cpu);
		if (!exit) {
			cs.hook = HookNote{h, w.line, std::string(trimmed(tl.text))};
			return;
		}
		if (cs.hook && !cs.hook->returned && cs.hook->call.hook == h.hook && cs.hook->call.gfn == h.gfn &&
		    cs.hook->call.level == h.level) {
			cs.hook->returned = true;
			cs.hook->ret = h.ret;
		} else {
			HookNote n{h, w.line, std::string(trimmed(tl.text))};
			n.returned = true;
			n.ret = h.ret;
			cs.hook = std::move(n);
		}
		if (cs.mirror)
			settle_mirror(cs, &h, w.line);
		// A failed install restored the old mirror SPTE (untraced): the
		// S-EPT must not have changed either.
		if (h.ret != 0 && (h.hook == TdxHook::link_external_spt || h.hook == TdxHook::set_external_spte)) {
			const auto [t, i] = mirror_slot(h.gfn, h.level, cs.hook->tdr);
			stats.mirror_checks++;
			check_sync(t, i, t ? t->spte[i] : nonpresent(), h.gfn, h.level, w.line, tl.text,
				   "after " + std::string(hook_name(h.hook)) + " failed", cs.hook->tdr);
		}
	}

	// ---- announced operations: bugs of omission (docs/conformance.md) -----------------
	//
	// A trace shows what the kernel did, not what it left undone.  An
	// announcement (conform/announce.h) says that an operation of the KVM
	// user returned; the reconstructed tables must then show its effect.
	// The memslots are known from the announcements; the tracepoints do not
	// say which VM a root belongs to, so a GFN that a memslot of another VM
	// covers is not checked (that VM may map it).
	struct Memslot {
		u32 vm = 0, as_id = 0, id = 0;
		u64 gfn = 0, pages = 0;
		u32 flags = 0;
		u64 end() const { return gfn + pages; }
	};
	std::vector<Memslot> memslots;
	std::vector<u32> vms;        // VMs announced by a memslot-add and not destroyed
	bool memslots_known = true;  // false after a loss marker: announcements may be lost too
	using Range = std::pair<u64, u64>; // [begin, end) of GFNs

	// After a loss marker or in a partial trace the memslots may be
	// incomplete: announcements are then applied as far as they go and
	// nothing is checked.
	bool announcements_checked() const { return memslots_known && !stats.partial; }

	[[noreturn]] static void bad_announcement(const Where& w, std::string_view field, const std::string& what)
	{
		throw ParseError(w, field, what);
	}

	Memslot* memslot(u32 vm, u32 as_id, u32 id)
	{
		for (Memslot& m : memslots)
			if (m.vm == vm && m.as_id == as_id && m.id == id)
				return &m;
		return nullptr;
	}

	static std::string slot_name(const Announcement& a)
	{
		return "slot " + std::to_string(a.slot) + " of vm " + std::to_string(a.vm) + " (as " + std::to_string(a.as_id) + ")";
	}

	// The memslot an operation names, consistent with what was announced
	// before; nullptr where the memslots are not all known.
	Memslot* named_slot(const Announcement& a, const Where& w, u64 gfn)
	{
		Memslot* m = memslot(a.vm, a.as_id, a.slot);
		if (!announcements_checked())
			return m;
		if (!m)
			bad_announcement(w, "slot", slot_name(a) + " was never added (no memslot-add announced it)");
		if (m->gfn != gfn)
			bad_announcement(w, a.op == OpKind::memslot_move ? "old_gfn" : "gfn",
					 slot_name(a) + " starts at gfn " + hex_digits(m->gfn) + ", not " + hex_digits(gfn));
		if (m->pages != a.pages)
			bad_announcement(w, "pages", slot_name(a) + " has " + std::to_string(m->pages) + " pages, not " +
							     std::to_string(a.pages));
		return m;
	}

	void add_memslot(const Announcement& a, const Where& w)
	{
		if (memslot(a.vm, a.as_id, a.slot)) {
			if (announcements_checked())
				bad_announcement(w, "slot", slot_name(a) + " is already added");
			std::erase_if(memslots, [&](const Memslot& m) { return m.vm == a.vm && m.as_id == a.as_id && m.id == a.slot; });
		}
		for (const Memslot& m : memslots)
			if (announcements_checked() && m.vm == a.vm && m.as_id == a.as_id && a.gfn < m.end() &&
			    m.gfn < a.gfn + a.pages)
				bad_announcement(w, "gfn", "gfn " + hex_digits(a.gfn) + " + " + std::to_string(a.pages) +
								   " pages overlaps slot " + std::to_string(m.id) +
								   " (KVM_SET_USER_MEMORY_REGION fails with EEXIST)");
		if (memslots.size() >= MAX_MEMSLOTS)
			bad_announcement(w, "slot", "more than " + std::to_string(MAX_MEMSLOTS) +
							    " memslots alive at once (the limit of arborist conform; a vm-destroy "
							    "ends a VM's memslots)");
		memslots.push_back(Memslot{a.vm, a.as_id, a.slot, a.gfn, a.pages, a.flags});
		if (std::find(vms.begin(), vms.end(), a.vm) == vms.end())
			vms.push_back(a.vm);
	}

	// The parts of [gfn, gfn + pages) that no memslot `covers` accepts
	// covers: the memslots over the range, sorted, swept once
	// (O(M + k log k) for M memslots, k of them over the range).
	template <class Covers>
	std::vector<Range> uncovered(u64 gfn, u64 pages, u32 as_id, Covers covers) const
	{
		const u64 end = gfn + pages;
		std::vector<Range> over;
		for (const Memslot& m : memslots)
			if (m.as_id == as_id && m.gfn < end && m.end() > gfn && covers(m))
				over.push_back({m.gfn, m.end()});
		std::sort(over.begin(), over.end());
		std::vector<Range> out;
		u64 at = gfn;
		for (const auto& [b, e] : over) {
			if (b > at)
				out.push_back({at, b});
			at = std::max(at, e);
		}
		if (at < end)
			out.push_back({at, end});
		return out;
	}

	// The present leaves of the trees of address space as_id (only valid
	// roots if valid_only) that map a GFN of `ranges` and are `bad`.
	struct Found {
		Table* table;
		unsigned index;
	};
	template <class Bad>
	std::vector<Found> leaves_in(const std::vector<Range>& ranges, u32 as_id, bool valid_only, Bad bad)
	{
		std::vector<Found> out;
		for (Table* r : roots)
			if (r->as_id == as_id && (r->valid || !valid_only))
				for (const Range& g : ranges)
					walk_leaves(*r, g, bad, out);
		return out;
	}

	template <class Bad>
	void walk_leaves(Table& t, const Range& g, Bad& bad, std::vector<Found>& out)
	{
		const u64 span = pages(t.level);
		const u64 end = t.base_gfn + span * ENTRIES;
		if (g.second <= t.base_gfn || g.first >= end)
			return;
		const unsigned lo = static_cast<unsigned>((std::max(g.first, t.base_gfn) - t.base_gfn) / span);
		const unsigned hi = static_cast<unsigned>((std::min(g.second, end) - 1 - t.base_gfn) / span);
		for (unsigned i = lo; i <= hi; i++) {
			const u64 s = t.spte[i];
			if (leaf(s, t.level)) {
				if (bad(s, t.level))
					out.push_back(Found{&t, i});
				continue;
			}
			Table* c = t.level > 1 ? table_by_pfn(child_pfn(s, t.level)) : nullptr;
			if (c && !c->detached && c->parent == &t && c->parent_index == i)
				walk_leaves(*c, g, bad, out);
		}
	}

	// Dirty logging protects a leaf by clearing W (wrprot_gfn_range(),
	// clear_dirty_pt_masked() with wrprot, write_protect_gfn()); with PML
	// (Intel EPT with A/D bits) a 4K leaf's dirty bit is cleared instead
	// (kvm_mmu_slot_leaf_clear_dirty(), clear_dirty_pt_masked() without).
	bool dirty_log_protected(u64 s, unsigned level) const
	{
		if (!spec::is_writable_pte(d, f, s))
			return true;
		return profile.arch == Arch::ept && level == spec::PG_LEVEL_4K && f.dirty != 0 && (s & f.dirty) == 0 &&
		       spte_ad_enabled(d, f, s);
	}

	void report_leftovers(std::string_view kind, const std::vector<Found>& found, const TraceLine& tl, const Where& w,
			      const std::string& what)
	{
		stats.omission_checks++;
		if (found.empty())
			return;
		std::string list;
		for (std::size_t k = 0; k < found.size() && k < 8; k++) {
			const Table& t = *found[k].table;
			list += (k ? ", " : "") + std::string("gfn ") + hex_digits(slot_gfn(t, found[k].index)) + " level " +
				std::to_string(t.level) + " = " + hex_digits(t.spte[found[k].index]);
		}
		if (found.size() > 8)
			list += ", ...";
		const std::string count = found.size() == 1 ? "1 leaf" : std::to_string(found.size()) + " leaves";
		report(slot_violation(kind, w, tl.text, what + ", but " + count + " still " + (found.size() == 1 ? "does" : "do") +
								": " + list,
				      *found.front().table, found.front().index));
	}

	static std::string range_text(u64 gfn, u64 pages)
	{
		return "gfn " + hex_digits(gfn) + "-" + hex_digits(gfn + pages - 1);
	}

	void on_announcement(const TraceLine& tl, const Where& w)
	{
		const Announcement a = decode_announcement(tl.payload, w);
		stats.announcements++;
		// The operation has returned: every teardown it started is over
		// (handle_removed_pt() runs to completion under mmu_lock).
		end_teardown(tl.cpu, w.line);
		const bool check = announcements_checked();
		const auto others = [&](const Memslot& m) { return m.vm != a.vm; };
		const auto any = [](const Memslot&) { return true; };
		const auto zapped = [](u64, unsigned) { return true; };
		const auto writable = [&](u64 s, unsigned level) { return !dirty_log_protected(s, level); };
		switch (a.op) {
		case OpKind::memslot_add:
			add_memslot(a, w);
			return;
		case OpKind::memslot_delete:
		case OpKind::memslot_move: {
			const bool move = a.op == OpKind::memslot_move;
			const u64 old_gfn = move ? a.old_gfn : a.gfn;
			Memslot* m = named_slot(a, w, old_gfn);
			if (m && move)
				m->gfn = a.gfn;
			else if (m)
				memslots.erase(memslots.begin() + (m - memslots.data()));
			if (!check)
				break;
			// kvm_arch_flush_shadow_memslot() zaps the old range before
			// the ioctl returns; a GFN another memslot covers may be
			// mapped again.
			report_leftovers("omission.memslot-zap",
					 leaves_in(uncovered(old_gfn, a.pages, a.as_id, any), a.as_id, false, zapped), tl, w,
					 slot_name(a) + (move ? " was moved away from " : " was deleted from ") +
						 range_text(old_gfn, a.pages) + ", so no leaf may map a GFN there that no memslot covers");
			return;
		}
		case OpKind::memslot_flags: {
			Memslot* m = named_slot(a, w, a.gfn);
			if (m && check && m->flags != a.old_flags)
				bad_announcement(w, "old_flags", slot_name(a) + " has flags " + hex_digits(m->flags) + ", not " +
									 hex_digits(a.old_flags));
			if (m)
				m->flags = a.flags;
			const bool enabled = (a.flags & ~a.old_flags & KVM_MEM_LOG_DIRTY_PAGES_FLAG) != 0;
			if (!enabled || a.mode == DirtyMode::manual_initially_set)
				return;
			if (!check)
				break;
			// kvm_mmu_slot_apply_flags(): write-protect the slot
			// (kvm_mmu_slot_remove_write_access()), unless INITIALLY_SET.
			report_leftovers("omission.dirty-log-enable",
					 leaves_in(uncovered(a.gfn, a.pages, a.as_id, others), a.as_id, true, writable), tl, w,
					 "dirty logging was enabled on " + slot_name(a) + " (" + range_text(a.gfn, a.pages) +
						 "), so no leaf of a valid root may be writable there");
			return;
		}
		case OpKind::unmap:
			if (!check)
				break;
			// The MMU notifier zaps the range in every root, valid or not
			// (kvm_tdp_mmu_unmap_gfn_range()).
			report_leftovers("omission.notifier-zap",
					 leaves_in(uncovered(a.gfn, a.pages, a.as_id, others), a.as_id, false, zapped), tl, w,
					 "the host memory behind " + range_text(a.gfn, a.pages) + " of vm " + std::to_string(a.vm) +
						 " was unmapped (" + (a.how == UnmapHow::munmap ? "munmap" : "MADV_DONTNEED") +
						 " of hva " + hex_digits(a.hva) + "), so no leaf may map a GFN there");
			return;
		case OpKind::dirty_log_get:
		case OpKind::dirty_log_clear: {
			const bool clear = a.op == OpKind::dirty_log_clear;
			Memslot* m = memslot(a.vm, a.as_id, a.slot);
			if (check) {
				if (!m)
					bad_announcement(w, "slot", slot_name(a) + " was never added (no memslot-add announced it)");
				if (clear ? (a.gfn < m->gfn || a.gfn + a.pages > m->end()) : (a.gfn != m->gfn || a.pages != m->pages))
					bad_announcement(w, "gfn", range_text(a.gfn, a.pages) + (clear ? " is not inside " : " is not ") +
									   slot_name(a) + ", " + range_text(m->gfn, m->pages));
				if (!(m->flags & KVM_MEM_LOG_DIRTY_PAGES_FLAG))
					bad_announcement(w, "slot", slot_name(a) + " does not log dirty pages (KVM returns ENOENT)");
				if (clear && a.mode == DirtyMode::wrprot)
					bad_announcement(w, "dirty_mode", "KVM_CLEAR_DIRTY_LOG needs "
									  "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (KVM returns EINVAL)");
			}
			if (!clear && a.mode != DirtyMode::wrprot)
				return; // a manual-protect GET only copies the bitmap
			if (!check)
				break;
			// A writable leaf was written since the last protection, so
			// its dirty bit is set, and kvm_get_dirty_log_protect() /
			// kvm_clear_dirty_log_protect() protect it again.
			report_leftovers("omission.dirty-log-protect",
					 leaves_in(uncovered(a.gfn, a.pages, a.as_id, others), a.as_id, true, writable), tl, w,
					 std::string(clear ? "KVM_CLEAR_DIRTY_LOG of " : "KVM_GET_DIRTY_LOG of ") + slot_name(a) + " (" +
						 range_text(a.gfn, a.pages) + ") returned, so no leaf of a valid root may be writable there");
			return;
		}
		case OpKind::vm_destroy:
			if (check && std::find(vms.begin(), vms.end(), a.vm) == vms.end())
				bad_announcement(w, "vm", "vm " + std::to_string(a.vm) + " was never announced (no memslot-add)");
			std::erase_if(memslots, [&](const Memslot& m) { return m.vm == a.vm; });
			std::erase(vms, a.vm);
			return;
		}
		stats.omission_unchecked++; // a check was owed, but the memslots or tables are not all known
	}

	// The TDP root level is the host's (kvm_mmu_get_tdp_level(): 5 with
	// 5-level paging and EPT/NPT support for it, else 4), the same for every
	// VM but a TD (whose EPTP.PWL tdx_td_params gives).  A trace from the
	// start shows it in its first new page: a 5-level host creates a
	// level-5 root before any table.
	void adopt_five_level(const MmuPage& p)
	{
		if (tdx || seen_mmu_event || seen_root || !tables.empty() || p.created != MmuPage::Created::created ||
		    !p.direct || p.level != root_level + 1 || p.level != spec::PG_LEVEL_4K + 4)
			return;
		root_level = p.level;
		stats.root_level = root_level;
	}

	// ---- the other events --------------------------------------------------------------
	// A new root: kvm_mmu_get_page "l<root level> ... direct ... new" (tdp_mmu_init_sp()).
	void on_get_page(const TraceLine& tl, const Where& w)
	{
		const MmuPage p = decode_mmu_page(tl.payload, w, true);
		adopt_five_level(p);
		if (p.created != MmuPage::Created::created || !p.direct || p.level != root_level)
			return;
		seen_root = true;
		pool.count++;
		pool.newest_seq = ++next_order;
		pool.newest_line = w.line;
		stats.roots_created++;
	}

	// kvm_mmu_zap_all_fast(): every root of the VM becomes invalid
	// (kvm_tdp_mmu_invalidate_all_roots()).  Empty roots stay counted: they
	// are interchangeable, and one may belong to another VM of the trace.
	void on_zap_all_fast(const TraceLine& tl, const Where& w)
	{
		decode_zap_all_fast(tl.payload, w);
		for (Table* r : roots)
			r->valid = false;
	}

	void on_split(const TraceLine& tl, const Where& w)
	{
		const SplitHugePage s = decode_split_huge_page(tl.payload, w);
		CpuState& cs = cpu_state(tl.cpu);
		const std::optional<SplitNote> note = cs.split;
		cs.split.reset();
		const bool linked = note && note->gfn == s.gfn && note->level == static_cast<unsigned>(s.level) &&
				    note->huge == s.spte;
		if (linked == (s.err == 0))
			return;
		report(violation("spte.split-mismatch", w.line, tl.text,
				 s.err == 0 ? "the split of huge SPTE " + hex_digits(s.spte) + " at gfn " + hex_digits(s.gfn) + " level " +
						      std::to_string(s.level) +
						      " succeeded, but this CPU traced no such link just before it"
					    : "the split reports errno " + std::to_string(s.err) +
						      ", but this CPU traced the link of its table"));
	}

	void on_spte_requested(const TraceLine& tl, const Where& w)
	{
		const SpteRequested r = decode_spte_requested(tl.payload, w);
		CpuState& cs = cpu_state(tl.cpu);
		cs.request = Request{r.gfn, r.pfn, r.level, w.line};
		cs.fault = OpenFault{r.gfn, r.level, ++next_order};
		cs.retired.reset();
	}

	// kvm_mmu_set_spte reads *sptep after this CPU's own change of the
	// entry (tdp_mmu_map_handle_target_level()), so it shows that value or
	// any later one, possibly written by another CPU in the meantime: a
	// value of the entry's history back to this CPU's last traced change.
	bool value_seen(const Table& t, unsigned i, u64 v, u32 cpu) const
	{
		return value_seen(t.spte[i], t.last_record[i], t.serial * ENTRIES + i, t.level, v, cpu);
	}

	bool value_seen(u64 held, u64 last_record, u64 slot, unsigned level, u64 v, u32 cpu) const
	{
		if (match(held, v, level) != Match::none)
			return true;
		std::size_t steps = 0;
		for (const Record* r = record(last_record); r && r->slot == slot && steps < HISTORY_SHOWN * 4;
		     r = record(r->prev), steps++) {
			if (r->new_spte == v)
				return true;
			if (r->cpu == cpu && r->origin == Origin::traced)
				break;
		}
		return false;
	}

	// What is wrong with a kvm_mmu_set_spte line, or "" if nothing; t and
	// i name its entry when the table is known.
	std::string set_spte_problem(const SetSpte& s, u32 cpu, Table*& t, unsigned& i)
	{
		const u64 pfn = spec::gpa_to_gfn(d, s.at);
		i = static_cast<unsigned>((s.at - spec::gfn_to_gpa(d, pfn)) / sizeof(u64));
		t = table_by_pfn(pfn);
		if (!t) {
			const std::optional<RetiredSlot>& old = cpu_state(cpu).retired;
			if (old && old->pfn == pfn && old->index == i)
				return retired_slot_problem(*old, s, cpu);
			return !stats.partial && s.level < root_level ? "no page table with pfn " + hex_digits(pfn) + " was linked"
								       : std::string(); // roots: the trace never gives their address
		}
		if (t->level != s.level || slot_gfn(*t, i) != round_to(s.gfn, s.level))
			return "the entry at " + hex_digits(s.at) + " maps gfn " + hex_digits(slot_gfn(*t, i)) + " at level " +
			       std::to_string(t->level) + ", not gfn " + hex_digits(s.gfn) + " at level " + std::to_string(s.level);
		if (!value_seen(*t, i, s.spte, cpu))
			return "spte " + hex_digits(s.spte) + ", but the entry holds " + hex_digits(t->spte[i]) +
			       " and held no such value since this CPU's change of it";
		return {};
	}

	// The install of this CPU's open fault (at its gfn and level) went to t.
	void note_fault_write(CpuState& cs, const Table& t, const SpteChanged& e) const
	{
		if (cs.fault && !t.is_root && cs.fault->level == e.level &&
		    round_to(cs.fault->gfn, e.level) == round_to(e.gfn, e.level))
			cs.fault->wrote = t.serial;
	}

	void end_fault(u32 cpu)
	{
		cpu_state(cpu).fault.reset();
		cpu_state(cpu).retired.reset();
	}

	std::string retired_slot_problem(const RetiredSlot& old, const SetSpte& s, u32 cpu) const
	{
		const std::string where = "the entry at " + hex_digits(s.at) + " of the level-" + std::to_string(old.level) +
					  " table pfn " + hex_digits(old.pfn) + " (unlinked at line " + std::to_string(old.detach_line) +
					  " and freed after this CPU's fault began)";
		if (old.level != static_cast<unsigned>(s.level) || old.gfn != round_to(s.gfn, s.level))
			return where + " maps gfn " + hex_digits(old.gfn) + " at level " + std::to_string(old.level) + ", not gfn " +
			       hex_digits(s.gfn) + " at level " + std::to_string(s.level);
		if (!value_seen(old.value, old.last_record, old.serial * ENTRIES + old.index, old.level, s.spte, cpu))
			return "spte " + hex_digits(s.spte) + ", but " + where + " held " + hex_digits(old.value) +
			       " and no such value since this CPU's change of it";
		return {};
	}

	void on_set_spte(const TraceLine& tl, const Where& w)
	{
		const bool reuse = prepared.text == tl.text.data();
		prepared.text = nullptr;
		const SetSpte s = reuse ? prepared.set : decode_set_spte(tl.payload, w);
		cpu_state(tl.cpu).request.reset();
		const std::optional<UnhookedInstall> unhooked = std::move(cpu_state(tl.cpu).unhooked);
		cpu_state(tl.cpu).unhooked.reset();
		Table* t = nullptr;
		unsigned i = 0;
		if (unhooked && set_spte_problem(s, tl.cpu, t, i).size() && t && t->mirror &&
		    t->spte[i] == unhooked->old_spte && unhooked->new_spte == s.spte && t->level == unhooked->level &&
		    slot_gfn(*t, i) == unhooked->gfn)
			move_to_mirror(*unhooked, *t, i, tl.cpu);
		const std::string what = set_spte_problem(s, tl.cpu, t, i);
		end_fault(tl.cpu);
		if (what.empty())
			return;
		if (t)
			report(slot_violation("spte.set-spte-mismatch", w, tl.text, what, *t, i));
		else
			report(violation("spte.set-spte-mismatch", w.line, tl.text, what));
	}

	// TDX: kvm_mmu_set_spte names the mirror table's entry that an install
	// with no hook, taken as a direct root's, wrote: it was a mirror SPTE
	// installed without set_external_spte (reported by mirror_changed()).
	void move_to_mirror(const UnhookedInstall& u, Table& mirror, unsigned i, u32 cpu)
	{
		if (Table* direct = table_by_serial(u.table); direct && direct->spte[u.index] == u.new_spte)
			set_entry(*direct, u.index, u.old_spte);
		set_entry(mirror, i, u.new_spte);
		add_record(mirror, i, Origin::traced, u.line, u.old_spte, u.new_spte);
		const SpteChanged e{mirror.as_id, u.gfn, u.level, u.old_spte, u.new_spte};
		TraceLine tl;
		tl.cpu = cpu;
		tl.text = u.text;
		mirror_changed(mirror.serial, i, e, u.gfn, false, tl, Where{"", u.line});
	}

	void on_mark_mmio_spte(const TraceLine& tl, const Where& w)
	{
		decode_mark_mmio_spte(tl.payload, w);
		cpu_state(tl.cpu).request.reset();
		end_fault(tl.cpu);
	}

	// The leaf a fast page fault fixed: the walk of every root to gfn.
	Candidate fast_fault_slot(u64 gfn, u64 old_spte)
	{
		Candidate best;
		for (Table* r : roots) {
			Table* t = r;
			for (;;) {
				const unsigned i = index_of(gfn, t->level);
				Table* c = t->level > 1 ? table_by_pfn(child_pfn(t->spte[i], t->level)) : nullptr;
				if (c && !c->detached && c->parent == t && c->parent_index == i) {
					t = c;
					continue;
				}
				Candidate cand;
				cand.table = t;
				cand.index = i;
				cand.held = t->spte[i];
				cand.match = leaf(cand.held, t->level) ? match(cand.held, old_spte, t->level) : Match::none;
				cand.rank = r->valid ? 1 : 2;
				cand.order = r->created_seq;
				if (!best.found() || better(cand, best))
					best = cand;
				break;
			}
		}
		return best;
	}

	// D3: a fix by the fast path is visible only in fast_page_fault
	// ("fixed 1"); its new value is *sptep when traced [README fast].
	void on_fast_page_fault(const TraceLine& tl, const Where& w)
	{
		const FastPageFault e = decode_fast_page_fault(tl.payload, w);
		if (!e.fixed)
			return; // a lockless read only
		const Candidate c = fast_fault_slot(spec::gpa_to_gfn(d, e.gva), e.old_spte);
		if (!c.found()) {
			if (stats.partial)
				stats.unattributed++;
			else
				report(violation("spte.unreachable", w.line, tl.text,
						 "no root reconstructed so far maps gva " + hex_digits(e.gva)));
			return;
		}
		Table& t = *c.table;
		if (c.match == Match::none)
			report(slot_violation("spte.lost-update", w, tl.text,
					      "the fast path fixed old " + hex_digits(e.old_spte) + ", but the slot held " + hex_digits(c.held),
					      t, c.index));
		const u64 fix = spec::fast_pf_fix_spte(d, f, e.old_spte, (e.error_code & PFERR_WRITE) != 0);
		if (fix != e.new_spte)
			report(slot_violation("spte.fast-fix", w, tl.text,
					      "new " + hex_digits(e.new_spte) + ", but spec::fast_pf_fix_spte(" + hex_digits(e.old_spte) +
						      ") = " + hex_digits(fix),
					      t, c.index));
		add_record(t, c.index, Origin::fast_fix, w.line, c.held, e.new_spte);
		set_entry(t, c.index, e.new_spte);
		stats.fast_fixes++;
	}

	// ---- the line loop --------------------------------------------------------------
	void count_other(std::string_view name)
	{
		for (auto& [n, count] : other_events)
			if (n == name) {
				count++;
				return;
			}
		other_events.emplace_back(std::string(name), 1);
	}

	// Lost events: nothing after them can be checked against what came
	// before, so the state is dropped and the rest is a partial trace.
	void gap(const TraceLine& tl, const Where& w)
	{
		stats.gaps++;
		set_partial("line " + std::to_string(w.line) + ": " + std::string(trimmed(tl.text)));
		tables.clear();
		by_pfn.clear();
		by_key.clear();
		cached_tables = nullptr;
		roots.clear();
		pool = RootPool{};
		cpus.clear();
		memslots.clear();
		vms.clear();
		memslots_known = false;
		if (tdx)
			tdx->lost_events(w);
	}

	void dispatch(EventId id, const TraceLine& tl, const Where& w)
	{
		switch (id) {
		case EventId::tdp_mmu_spte_changed:
			on_spte_changed(tl, w);
			break;
		case EventId::mmu_get_page:
			on_get_page(tl, w);
			break;
		case EventId::mmu_prepare_zap_page:
			decode_mmu_page(tl.payload, w, false);
			break;
		case EventId::mmu_split_huge_page:
			on_split(tl, w);
			break;
		case EventId::mmu_set_spte:
			on_set_spte(tl, w);
			break;
		case EventId::mmu_spte_requested:
			on_spte_requested(tl, w);
			break;
		case EventId::fast_page_fault:
			on_fast_page_fault(tl, w);
			break;
		case EventId::mmu_zap_all_fast:
			on_zap_all_fast(tl, w);
			break;
		case EventId::mark_mmio_spte:
			on_mark_mmio_spte(tl, w);
			break;
		case EventId::tdx_td_params:
			on_td_params(tl, w);
			break;
		case EventId::tdx_seamcall:
			on_seamcall(tl, w);
			break;
		case EventId::tdx_vcpu_enter:
		case EventId::tdx_vcpu_exit:
			on_vcpu(tl, w, id == EventId::tdx_vcpu_exit);
			break;
		case EventId::tdx_hook_enter:
		case EventId::tdx_hook_exit:
			on_hook(tl, w, id == EventId::tdx_hook_exit);
			break;
		case EventId::other:
			break;
		}
	}

	static bool is_tdx_event(EventId id)
	{
		return id >= EventId::tdx_td_params && id <= EventId::tdx_hook_exit;
	}

	void on_event(const TraceLine& tl, const Where& w, EventId id)
	{
		stats.events++;
		stats.by_event[static_cast<std::size_t>(id)]++;
		if (id == EventId::other) {
			count_other(tl.event);
			if (tl.event == "tracing_mark_write" && is_announcement(tl.payload))
				on_announcement(tl, w);
			return;
		}
		if (is_tdx_event(id)) {
			// SEAMCALLs and hooks run inside the MMU operation of their CPU
			// (handle_removed_pt() calls remove_external_spte() per child):
			// they neither end a teardown nor count as its first MMU event.
			dispatch(id, tl, w);
			return;
		}
		if (tl.cpu < cpus.size() && cpus[tl.cpu].mirror)
			settle_mirror(cpus[tl.cpu], nullptr, w.line);
		if (tl.cpu < cpus.size() && cpus[tl.cpu].nonpresent) {
			std::optional<MarkMmioSpte> mark;
			if (id == EventId::mark_mmio_spte)
				mark = decode_mark_mmio_spte(tl.payload, w);
			settle_nonpresent(cpus[tl.cpu], mark ? &*mark : nullptr);
		}
		if (id != EventId::tdp_mmu_spte_changed && id != EventId::mmu_prepare_zap_page)
			end_teardown(tl.cpu, w.line);
		if (id != EventId::mmu_get_page)
			note_first_mmu_event(w);
		dispatch(id, tl, w);
		if (id == EventId::mmu_get_page)
			note_first_mmu_event(w);
	}

	// ---- the linearization -------------------------------------------------------------
	//
	// Each CPU traces its changes in its own order, but the events of two
	// CPUs reach the ring buffer in either order: kvm_tdp_mmu_spte_changed
	// fires after the cmpxchg (handle_changed_spte()), kvm_mmu_set_spte and
	// fast_page_fault read the entry after it, and with trace_clock local
	// the per-CPU clocks may be skewed.  So the replay looks for an order of
	// the events, consistent with each CPU's own order, in which every
	// change replaces the value the entry holds (as linearizability
	// checkers such as Knossos and Porcupine do for histories):
	//   - an event that fits the reconstructed state is applied at once;
	//   - one that does not is held back, with every later event of its CPU;
	//     after each applied event, the held-back head of each CPU is tried
	//     again;
	//   - an event also waits for the held events of its task (pid), which
	//     may have been traced on another CPU before a migration;
	//   - a fault's install that two tables could take waits for its CPU's
	//     next event, the kvm_mmu_set_spte naming its entry
	//     (awaits_set_spte());
	//   - a held event is applied anyway, and its violation reported, when
	//     every other CPU has traced past it by the window (others_past():
	//     the clocks' skew is bounded, a CPU's silence is not), when it is
	//     window_lines old (memory is bounded), when every CPU of the trace
	//     has an event held back (no event can explain another any more),
	//     at a loss marker, and at the end.
	// Trying the heads greedily is enough: two events that both fit either
	// touch different entries, and commute, or replace the same value of
	// one entry, and then at most one of them took effect (the cmpxchg of
	// the other failed and was not traced), so no choice hides a violation.
	// SEAMCALLs, hooks and TD entries are not reordered: the TDX profile's
	// events are replayed in trace order.

	// Whether an event fits the state: its change replaces the value some
	// candidate entry holds, its kvm_mmu_set_spte value is one the entry has
	// held, its fast-path fix replaces the value the walk finds.  Events
	// that change nothing always fit.
	bool fits(const TraceLine& tl, const Where& w, EventId id)
	{
		prepared.awaits_set_spte = false;
		if (tdx)
			return true;
		switch (id) {
		case EventId::tdp_mmu_spte_changed: {
			const SpteChanged e = decode_spte_changed(tl.payload, w);
			if (!level_ok(e.level))
				return true; // applied at once and reported as spte.bad-level
			const Candidate c = attribute(e.as_id, e.level, round_to(e.gfn, e.level), e.old_spte, e.new_spte, tl.cpu);
			prepared.text = tl.text.data();
			prepared.event = e;
			prepared.candidate = c;
			prepared.awaits_set_spte = !install_hint && awaits_set_spte(e, tl.cpu);
			return c.found() ? c.match != Match::none : stats.partial;
		}
		case EventId::mmu_set_spte: {
			Table* t = nullptr;
			unsigned i = 0;
			prepared.set = decode_set_spte(tl.payload, w);
			prepared.text = tl.text.data();
			return set_spte_problem(prepared.set, tl.cpu, t, i).empty();
		}
		case EventId::fast_page_fault: {
			const FastPageFault e = decode_fast_page_fault(tl.payload, w);
			if (!e.fixed)
				return true;
			const Candidate c = fast_fault_slot(spec::gpa_to_gfn(d, e.gva), e.old_spte);
			return c.found() ? c.match != Match::none : stats.partial;
		}
		default:
			return true;
		}
	}

	void apply(const TraceLine& tl, const Where& w, EventId id)
	{
		current_cpu = tl.cpu;
		applied_events++;
		if (tl.cpu >= applied_on.size())
			applied_on.resize(tl.cpu + 1);
		applied_on[tl.cpu]++;
		on_event(tl, w, id);
	}

	void apply(const TraceLine& tl, const Where& w) { apply(tl, w, classify_event(tl.event)); }
	bool fits(const TraceLine& tl, const Where& w) { return fits(tl, w, classify_event(tl.event)); }

	void hold(const TraceLine& tl, const Where& w, bool awaits = false)
	{
		prepared.text = nullptr;
		if (tl.cpu >= held.size())
			held.resize(tl.cpu + 1);
		held[tl.cpu].push_back(HeldEvent{++held_seq, tl.cpu, tl.pid, w.line, feeding_time, std::string(tl.text),
						 applied_on_others(tl.cpu), awaits});
		held_by_task[tl.pid].push_back(held_seq);
		held_count++;
	}

	HeldEvent take(u32 cpu)
	{
		HeldEvent h = std::move(held[cpu].front());
		held[cpu].pop_front();
		held_count--;
		const auto t = held_by_task.find(h.pid);
		t->second.pop_front();
		if (t->second.empty())
			held_by_task.erase(t);
		return h;
	}

	// A task migrates between CPUs only between MMU operations, so its
	// events keep their trace order too: an event waits for its task's
	// earlier held events, on whichever CPU they were traced.
	bool task_held(u32 pid) const { return held_by_task.contains(pid); }
	bool first_of_task(const HeldEvent& h) const { return held_by_task.at(h.pid).front() == h.seq; }

	// The entry named by the CPU's held event after its head, if the head
	// is a change and that event its fault's kvm_mmu_set_spte of the same
	// gfn and level (awaits_set_spte()).
	std::optional<EntryAddress> set_spte_after_head(u32 cpu) const
	{
		if (held[cpu].size() < 2)
			return std::nullopt;
		const Where hw{file, held[cpu][1].line};
		const TraceLine next = parse_trace_line(held[cpu][1].text, hw);
		if (classify_event(next.event) != EventId::mmu_set_spte)
			return std::nullopt;
		const TraceLine head = parse_trace_line(held[cpu].front().text, Where{file, held[cpu].front().line});
		if (classify_event(head.event) != EventId::tdp_mmu_spte_changed)
			return std::nullopt;
		const SpteChanged e = decode_spte_changed(head.payload, Where{file, held[cpu].front().line});
		const SetSpte s = decode_set_spte(next.payload, hw);
		if (static_cast<unsigned>(s.level) != e.level || round_to(s.gfn, e.level) != round_to(e.gfn, e.level))
			return std::nullopt;
		const u64 pfn = spec::gpa_to_gfn(d, s.at);
		return EntryAddress{pfn, static_cast<unsigned>((s.at - spec::gfn_to_gpa(d, pfn)) / sizeof(u64))};
	}

	// A head that fits but waits for its CPU's next event.
	bool awaiting_next(u32 cpu) const
	{
		return held[cpu].size() == 1 && held[cpu].front().awaits_set_spte;
	}

	// Applies the held heads that now fit, until none does.  A fault's
	// install that two tables could take waits for the CPU's next event,
	// its kvm_mmu_set_spte, and goes to the entry that names
	// (awaits_set_spte()).
	void drain()
	{
		for (bool progress = held_count != 0; progress;) {
			progress = false;
			for (u32 cpu = 0; cpu < held.size(); cpu++) {
				while (!held[cpu].empty() && first_of_task(held[cpu].front()) && !awaiting_next(cpu)) {
					const Where hw{file, held[cpu].front().line};
					const TraceLine tl = parse_trace_line(held[cpu].front().text, hw);
					install_hint = set_spte_after_head(cpu);
					const bool fit = fits(tl, hw);
					if (!fit || (prepared.awaits_set_spte && held[cpu].size() == 1)) {
						held[cpu].front().awaits_set_spte = fit;
						install_hint.reset();
						prepared.text = nullptr;
						break;
					}
					const HeldEvent h = take(cpu);
					// Only an event another CPU's event overtook was
					// reordered (one that waited for its CPU's next
					// event alone was not).
					if (h.others_applied != applied_on_others(cpu)) {
						stats.reordered++;
						stats.max_reorder_lines = std::max(stats.max_reorder_lines, feeding_line - h.line);
						if (h.time >= 0 && feeding_time >= h.time)
							stats.max_reorder_us =
								std::max(stats.max_reorder_us, (feeding_time - h.time) * 1e6);
					}
					apply(parse_trace_line(h.text, hw), hw);
					install_hint.reset();
					progress = true;
				}
			}
		}
	}

	const HeldEvent* oldest() const
	{
		const HeldEvent* o = nullptr;
		for (const std::deque<HeldEvent>& q : held)
			if (!q.empty() && (!o || q.front().seq < o->seq))
				o = &q.front();
		return o;
	}

	std::string force_reason;
	u64 forced_until = 0;

	std::string forced_note() const
	{
		return "; no order of the CPUs' events explains it: held back from line " + std::to_string(forced->line) +
		       " to line " + std::to_string(forced_until) + " and tried after each event of the other CPUs in "
		       "between (the earlier events below include those applied meanwhile), until " + force_reason;
	}

	void force(u32 cpu, const std::string& why)
	{
		prepared.text = nullptr;
		if (awaiting_next(cpu)) {
			// It fits; its CPU's next event has not come (yet): the
			// attribution of awaits_set_spte() is decided without it.
			const HeldEvent h = take(cpu);
			const Where hw{file, h.line};
			apply(parse_trace_line(h.text, hw), hw);
			drain();
			return;
		}
		install_hint = set_spte_after_head(cpu);
		const HeldEvent h = take(cpu);
		stats.forced++;
		forced = &h;
		force_reason = why;
		forced_until = feeding_line;
		const Where hw{file, h.line};
		apply(parse_trace_line(h.text, hw), hw);
		install_hint.reset();
		forced = nullptr;
		drain();
	}

	// A CPU the header names may not have traced yet: its first event may
	// be the one a held event waits for (a CPU whose first cmpxchg was
	// traced late), so it counts as not held.
	bool every_cpu_held() const
	{
		std::size_t known = 0, stuck = 0;
		for (std::size_t c = 0; c < std::max<std::size_t>(known_cpu.size(), header_cpus); c++) {
			const bool listed = c < header_cpus || known_cpu[c];
			known += listed;
			stuck += listed && c < held.size() && !held[c].empty() && !awaiting_next(static_cast<u32>(c));
		}
		return known != 0 && known == stuck;
	}

	// Whether every other CPU of the trace has traced an event stamped more
	// than the window after t.  The event a held one waits for is traced
	// by another CPU after its cmpxchg; everything that CPU traced before
	// it was traced before that cmpxchg, hence (clocks that agree to within
	// the window) less than the window after t.  So once that CPU has
	// traced past t + window, the event is in.  Trace time alone would not
	// do: a vCPU thread the host deschedules between its cmpxchg and its
	// tracepoint (or, under trace_clock global, a CPU whose clock is held
	// back to the global one) traces nothing meanwhile, however long the
	// others go on.
	bool others_past(u32 cpu, double t) const
	{
		bool others = false;
		for (std::size_t c = 0; c < known_cpu.size(); c++) {
			if (!known_cpu[c] || c == cpu)
				continue;
			if (c >= newest_time.size() || newest_time[c] - t <= window_seconds)
				return false;
			others = true;
		}
		return others;
	}

	void enforce_bounds()
	{
		while (const HeldEvent* o = oldest()) {
			if (feeding_line - o->line >= window_lines)
				force(o->cpu, "the window of " + std::to_string(window_lines) + " lines had passed");
			else if (o->time >= 0 && others_past(o->cpu, o->time))
				force(o->cpu, "every other CPU had traced an event more than the window of " +
						      std::to_string(static_cast<u64>(window_seconds * 1e6 + 0.5)) +
						      " us of trace time after it");
			else if (every_cpu_held())
				force(o->cpu, "every CPU of the trace had an event held back");
			else
				break;
		}
	}

	void force_all(const std::string& why)
	{
		while (const HeldEvent* o = oldest())
			force(o->cpu, why);
	}

	void feed_event(const TraceLine& tl, const Where& w)
	{
		feeding_time = timestamp_seconds(tl.timestamp);
		if (tl.cpu >= newest_time.size())
			newest_time.resize(tl.cpu + 1, -1);
		newest_time[tl.cpu] = std::max(newest_time[tl.cpu], feeding_time);
		if (tl.cpu >= known_cpu.size())
			known_cpu.resize(tl.cpu + 1);
		known_cpu[tl.cpu] = true;
		if (held_count && ((tl.cpu < held.size() && !held[tl.cpu].empty()) || task_held(tl.pid))) {
			const bool next_awaited = tl.cpu < held.size() && awaiting_next(tl.cpu);
			hold(tl, w);
			if (next_awaited)
				drain();
		} else if (const EventId id = classify_event(tl.event); fits(tl, w, id)) {
			if (prepared.awaits_set_spte) {
				hold(tl, w, true);
			} else {
				apply(tl, w, id);
				if (held_count)
					drain();
			}
		} else {
			hold(tl, w);
		}
		enforce_bounds();
	}

	void feed(const TraceLine& tl, const Where& w)
	{
		stats.lines++;
		file = w.file;
		feeding_line = w.line;
		switch (tl.kind) {
		case LineKind::event:
			feed_event(tl, w);
			break;
		case LineKind::header:
			header_cpus = std::max(header_cpus, tl.cpus);
			break;
		case LineKind::entries:
			header_cpus = std::max(header_cpus, tl.cpus);
			if (tl.first < tl.second)
				set_partial("the ring buffer dropped " + std::to_string(tl.second - tl.first) +
					    " of its first events (\"entries-in-buffer/entries-written\")");
			break;
		case LineKind::buffer_started:
		case LineKind::lost_events:
			force_all("a loss marker (line " + std::to_string(w.line) + ")");
			gap(tl, w);
			break;
		default:
			break;
		}
	}

	void finish(u64 line)
	{
		force_all("the trace ended");
		for (u32 cpu = 0; cpu < cpus.size(); cpu++) {
			if (cpus[cpu].mirror)
				settle_mirror(cpus[cpu], nullptr, line);
			end_teardown(cpu, line);
			if (cpus[cpu].nonpresent)
				settle_nonpresent(cpus[cpu], nullptr);
		}
		if (tdx) {
			stats.seamcalls_replayed = tdx->stats().seamcalls;
			stats.seamcalls_not_replayed = tdx->stats().not_replayed;
			stats.tds = tdx->stats().tds;
		}
		stats.other_events.clear();
		for (const auto& [name, count] : other_events)
			stats.other_events.emplace(name, count);
	}
};

Checker::Checker(const Profile& profile, bool partial, Sink sink)
	: impl_(std::make_unique<Impl>(profile, partial, std::move(sink)))
{
}

Checker::~Checker() = default;

void Checker::feed(const TraceLine& line, const Where& where) { impl_->feed(line, where); }

void Checker::finish() { impl_->finish(impl_->stats.lines); }

void Checker::set_window(u64 lines, u64 us)
{
	impl_->window_lines = std::max<u64>(lines, 1);
	impl_->window_seconds = static_cast<double>(us) * 1e-6;
}

const Stats& Checker::stats() const { return impl_->stats; }

const Profile& Checker::profile() const { return impl_->profile; }

} // namespace arborist::conform
