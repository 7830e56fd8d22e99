// SPDX-License-Identifier: GPL-2.0-only
//
// The configuration-file reader (proofs/arborist/mc/config_file.hpp).  The
// format is documented in docs/model-checking.md "Configuration files";
// every name it accepts comes from a table written once: the variants from
// impl/arborist/impl/variant_names.hpp, the tasks and properties from the
// system headers.
#include <cctype>
#include <charconv>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "arborist/impl/variant_names.hpp"
#include "arborist/mc/config_file.hpp"
#include "arborist/mc/dpamt_system.hpp"
#include "arborist/mc/root_system.hpp"
#include "arborist/mc/tdx_system.hpp"

namespace arborist::mc {

namespace {

using spec::u64;

constexpr unsigned MAX_TASKS = 8; // the checker stores a task index in a byte; 8 keeps searches small

std::vector<std::string_view> split_words(std::string_view line)
{
	std::vector<std::string_view> w;
	std::size_t i = 0;
	while (i < line.size()) {
		while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
			i++;
		const std::size_t b = i;
		while (i < line.size() && line[i] != ' ' && line[i] != '\t')
			i++;
		if (i > b)
			w.push_back(line.substr(b, i - b));
	}
	return w;
}

std::optional<u64> parse_number(std::string_view v)
{
	int base = 10;
	if (v.starts_with("0x") || v.starts_with("0X")) {
		v.remove_prefix(2);
		base = 16;
	}
	u64 n = 0;
	if (v.empty())
		return std::nullopt;
	const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
	if (ec != std::errc{} || p != v.data() + v.size())
		return std::nullopt;
	return n;
}

std::string echo(std::string_view v)
{
	return support::quoted(std::string(v), 60);
}

// The parse of one file: what the lines said so far.
class Reader {
public:
	explicit Reader(std::string file) : file_(std::move(file)) {}

	McConfig read(support::LineReader& lines)
	{
		while (const auto l = lines.next()) {
			line_ = lines.line_number();
			line(*l);
		}
		line_ = 0;
		return finish();
	}

private:
	enum class Sys { none, tdx, root, dpamt };

	[[noreturn]] void fail(std::string_view field, const std::string& msg) const
	{
		throw support::InputError(file_, line_, std::string(field) + ": " + msg);
	}

	void line(std::string_view text)
	{
		if (const std::size_t hash = text.find('#'); hash != std::string_view::npos)
			text = text.substr(0, hash);
		const std::vector<std::string_view> w = split_words(text);
		if (w.empty())
			return;
		const std::string_view cmd = w[0];
		const std::string_view rest = rest_of(text, cmd);
		const std::span<const std::string_view> args(w.data() + 1, w.size() - 1);
		if (cmd == "configuration")
			once(cmd, name_, one_word(cmd, args));
		else if (cmd == "summary")
			once(cmd, summary_, text_of(cmd, rest));
		else if (cmd == "source")
			once(cmd, source_, text_of(cmd, rest));
		else if (cmd == "expect")
			once(cmd, expect_, one_word(cmd, args)), expect_line_ = line_;
		else if (cmd == "system")
			system(args);
		else if (cmd == "tier")
			tier(args);
		else if (cmd == "geometry")
			for (std::string_view kv : args)
				geometry(kv);
		else if (cmd == "variant")
			for (std::string_view kv : args)
				variant(kv);
		else if (cmd == "task")
			task(args);
		else if (cmd == "properties")
			properties(args);
		else
			fail(cmd, "unknown line; expected configuration, summary, source, expect, tier, system, geometry, "
				  "variant, task or properties");
	}

	static std::string_view rest_of(std::string_view text, std::string_view cmd)
	{
		std::string_view r = text.substr(static_cast<std::size_t>(cmd.data() + cmd.size() - text.data()));
		while (!r.empty() && (r.front() == ' ' || r.front() == '\t'))
			r.remove_prefix(1);
		while (!r.empty() && (r.back() == ' ' || r.back() == '\t'))
			r.remove_suffix(1);
		return r;
	}

	std::string text_of(std::string_view cmd, std::string_view rest) const
	{
		if (rest.empty())
			fail(cmd, "missing text");
		return std::string(rest);
	}

	std::string one_word(std::string_view cmd, std::span<const std::string_view> args) const
	{
		if (args.size() != 1)
			fail(cmd, "expected one word, got " + std::to_string(args.size()));
		return std::string(args[0]);
	}

	void once(std::string_view cmd, std::string& field, std::string value) const
	{
		if (!field.empty())
			fail(cmd, "given twice");
		field = std::move(value);
	}

	void need_system(std::string_view what) const
	{
		if (sys_ == Sys::none)
			fail(what, "comes after the 'system' line");
	}

	// quick (every test build runs it) or deep (the default build's
	// cli.check_deep only: too slow for a sanitized build).
	void tier(std::span<const std::string_view> args)
	{
		if (tier_given_)
			fail("tier", "given twice");
		tier_given_ = true;
		deep_ = yes_no("tier", one_word("tier", args), "deep", "quick");
	}

	void system(std::span<const std::string_view> args)
	{
		if (sys_ != Sys::none)
			fail("system", "given twice");
		const std::string w = one_word("system", args);
		if (w == "tdx")
			sys_ = Sys::tdx;
		else if (w == "root")
			sys_ = Sys::root;
		else if (w == "dpamt")
			sys_ = Sys::dpamt;
		else
			fail("system", "expected tdx, root or dpamt, got " + echo(w));
	}

	// KEY=VALUE, each key at most once in the file.
	std::pair<std::string_view, std::string_view> key_value(std::string_view kv)
	{
		const std::size_t eq = kv.find('=');
		if (eq == std::string_view::npos || eq == 0 || eq + 1 == kv.size())
			fail(kv.substr(0, eq), "expected KEY=VALUE, got " + echo(kv));
		const std::string_view k = kv.substr(0, eq);
		for (const std::string& seen : keys_)
			if (seen == k)
				fail(k, "given twice");
		keys_.emplace_back(k);
		return {k, kv.substr(eq + 1)};
	}

	u64 number(std::string_view key, std::string_view v, u64 lo, u64 hi) const
	{
		const auto n = parse_number(v);
		if (!n)
			fail(key, "expected a number (decimal or 0x hex), got " + echo(v));
		if (*n < lo || *n > hi)
			fail(key, echo(v) + " is out of range " + std::to_string(lo) + " to " + std::to_string(hi));
		return *n;
	}

	bool yes_no(std::string_view key, std::string_view v, std::string_view yes = "yes",
		    std::string_view no = "no") const
	{
		if (v == yes)
			return true;
		if (v == no)
			return false;
		fail(key, "expected " + std::string(yes) + " or " + std::string(no) + ", got " + echo(v));
	}

	template <class E, std::size_t N>
	E named(std::string_view key, std::string_view v, const impl::VariantName<E> (&names)[N]) const
	{
		const std::span<const impl::VariantName<E>> table(names);
		if (const auto e = impl::variant_by_name(table, v))
			return *e;
		fail(key, "expected " + impl::variant_alternatives(table) + ", got " + echo(v));
	}

	void geometry(std::string_view kv)
	{
		need_system("geometry");
		const auto [k, v] = key_value(kv);
		if (sys_ != Sys::tdx)
			fail(k, "a " + system_name() + " configuration has no geometry keys (its tasks are its size)");
		if (k == "vcpus")
			tdx_.nr_vcpus = static_cast<unsigned>(number(k, v, 1, 4));
		else if (k == "prelink")
			tdx_.prelink = yes_no(k, v);
		else if (k == "huge-page")
			tdx_.huge = yes_no(k, v);
		else if (k == "fault-gpa")
			tdx_.fault_gpa = page_gpa(k, v);
		else if (k == "resched-every")
			tdx_.resched_every = number(k, v, 0, 1000);
		else if (k == "pinned-inodes")
			tdx_.pinned_inodes = static_cast<unsigned>(number(k, v, 0, impl::TDX_MAX_GMEM_INODES));
		else if (k == "module-locks")
			tdx_.lock_windows = yes_no(k, v, "windows", "atomic");
		else
			fail(k, "unknown geometry key; expected vcpus, prelink, huge-page, fault-gpa, resched-every, "
				"pinned-inodes or module-locks");
	}

	u64 page_gpa(std::string_view k, std::string_view v) const
	{
		const u64 gpa = number(k, v, 0, (u64{1} << 30) - 1);
		if (gpa & 0xfff)
			fail(k, echo(v) + " is not 4K aligned");
		return gpa;
	}

	void variant(std::string_view kv)
	{
		need_system("variant");
		const auto [k, v] = key_value(kv);
		if (sys_ == Sys::dpamt) {
			if (k == "pamt-refcount")
				dpamt_.variant = named(k, v, impl::pamt_refcount_names);
			else if (k == "split-pamt-cache")
				dpamt_.cache_mutex = yes_no(k, v, "mutex", "no-mutex");
			else
				fail(k, "unknown variant key of a dpamt configuration; expected pamt-refcount or split-pamt-cache");
			return;
		}
		if (sys_ == Sys::root) {
			if (k != "put-root")
				fail(k, "unknown variant key of a root configuration; expected put-root");
			root_.variant = named(k, v, impl::put_root_names);
			return;
		}
		if (k == "removal")
			tdx_.variants.removal = named(k, v, impl::removal_names);
		else if (k == "mirror-write")
			tdx_.variants.mirror_write = named(k, v, impl::mirror_write_names);
		else if (k == "teardown")
			tdx_.tdx_variants.teardown = named(k, v, impl::teardown_names);
		else if (k == "terminate-vm")
			tdx_.tdx_variants.terminate_vm = named(k, v, impl::terminate_vm_names);
		else if (k == "private-huge-pages")
			tdx_.tdx_variants.private_huge_pages = yes_no(k, v, "on", "off");
		else if (k == "split-lock")
			tdx_.split_shared = yes_no(k, v, "shared", "exclusive");
		else if (k == "gmem-pin")
			tdx_.pin_inode = yes_no(k, v);
		else if (k == "busy-retry")
			tdx_.tdx_variants.busy_kick_retry = named(k, v, impl::busy_retry_names);
		else if (k == "sept-page-release")
			tdx_.tdx_variants.sept_page_release = named(k, v, impl::sept_page_release_names);
		else
			fail(k, "unknown variant key; expected removal, mirror-write, teardown, terminate-vm, "
				"private-huge-pages, split-lock, gmem-pin, busy-retry or sept-page-release");
	}

	void task(std::span<const std::string_view> args)
	{
		need_system("task");
		if (args.empty())
			fail("task", "missing the task kind");
		if (++ntasks_ > MAX_TASKS)
			fail("task", "at most " + std::to_string(MAX_TASKS) + " tasks");
		if (sys_ == Sys::root)
			return root_task(args);
		if (sys_ == Sys::dpamt)
			return dpamt_task(args);
		TdxTaskSpec t;
		std::string kinds;
		bool found = false;
		for (const auto& [n, k] : tdx_task_names) {
			kinds += (kinds.empty() ? "" : ", ") + std::string(n);
			if (n == args[0]) {
				t.kind = k;
				found = true;
			}
		}
		if (!found)
			fail("task", "unknown task " + echo(args[0]) + "; expected one of " + kinds);
		for (std::string_view kv : args.subspan(1)) {
			const std::size_t eq = kv.find('=');
			const std::string_view k = kv.substr(0, eq);
			const std::string_view v = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
			if (t.kind == TdxTask::fault && k == "vcpu" && !v.empty())
				t.vcpu = static_cast<int>(number(k, v, 0, 3));
			else if (t.kind == TdxTask::fault && k == "gpa" && !v.empty())
				t.gpa = page_gpa(k, v);
			else if (t.kind == TdxTask::unmap && k == "gfn" && !v.empty())
				gfn_range(k, v, t);
			else if (t.kind == TdxTask::vcpu_run && k == "stepping-filter" && !v.empty())
				t.stepping_filter = yes_no(k, v);
			else
				fail(k, "not a parameter of task " + std::string(args[0]) +
						(t.kind == TdxTask::fault      ? " (it takes vcpu=N and gpa=GPA)"
						 : t.kind == TdxTask::unmap    ? " (it takes gfn=START..END)"
						 : t.kind == TdxTask::vcpu_run ? " (it takes stepping-filter=yes|no)"
									       : " (it takes none)"));
		}
		tdx_.tasks.push_back(t);
		task_lines_.push_back(line_);
	}

	void gfn_range(std::string_view k, std::string_view v, TdxTaskSpec& t) const
	{
		const std::size_t dots = v.find("..");
		if (dots == std::string_view::npos)
			fail(k, "expected START..END (END exclusive), got " + echo(v));
		t.gfn_start = number(k, v.substr(0, dots), 0, (u64{1} << 18) - 1);
		t.gfn_end = number(k, v.substr(dots + 2), 1, u64{1} << 18);
		if (t.gfn_end <= t.gfn_start)
			fail(k, "empty range " + echo(v) + ": END is exclusive and must be above START");
	}

	void dpamt_task(std::span<const std::string_view> args)
	{
		DpamtTaskSpec t;
		std::string kinds;
		bool found = false;
		for (const auto& [n, k] : dpamt_task_names) {
			kinds += (kinds.empty() ? "" : ", ") + std::string(n);
			if (n == args[0]) {
				t.kind = k;
				found = true;
			}
		}
		if (!found)
			fail("task", "unknown dpamt task " + echo(args[0]) + "; expected one of " + kinds);
		for (std::string_view kv : args.subspan(1)) {
			const std::size_t eq = kv.find('=');
			const std::string_view k = kv.substr(0, eq);
			const std::string_view v = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
			if (t.kind == DpamtTask::teardown && k == "pages" && !v.empty())
				t.pages = static_cast<unsigned>(number(k, v, 1, 3));
			else
				fail(k, "not a parameter of task " + std::string(args[0]) +
						(t.kind == DpamtTask::teardown ? " (it takes pages=N)" : " (it takes none)"));
		}
		dpamt_.tasks.push_back(t);
	}

	void root_task(std::span<const std::string_view> args)
	{
		if (args.size() > 1)
			fail(args[1], "root tasks take no parameters");
		if (args[0] == "put")
			puts_++;
		else if (args[0] == "zap-all-fast")
			zappers_++;
		else if (args[0] == "next-root")
			root_.iterators++;
		else
			fail("task", "unknown root task " + echo(args[0]) + "; expected put, zap-all-fast or next-root");
	}

	void properties(std::span<const std::string_view> args)
	{
		need_system("properties");
		if (props_given_)
			fail("properties", "given twice");
		props_given_ = true;
		props_line_ = line_;
		if (args.empty())
			fail("properties", "expected 'all' or property names");
		if (args.size() == 1 && args[0] == "all")
			return;
		props_listed_ = true;
		props_ = 0;
		deadlock_ = termination_ = false;
		for (std::string_view n : args) {
			if (n == "deadlock")
				deadlock_ = true;
			else if (n == "termination")
				termination_ = true;
			else if (const int bit = property_bit(n); bit >= 0)
				props_ |= 1u << bit;
			else
				fail("properties", "unknown property " + echo(n) + " of a " + system_name() +
							   " configuration; expected " + property_list());
		}
	}

	std::span<const PropertyInfo> system_properties() const
	{
		switch (sys_) {
		case Sys::tdx: return tdx_properties;
		case Sys::dpamt: return dpamt_properties;
		default: return root_properties;
		}
	}
	int property_bit(std::string_view n) const
	{
		const auto ps = system_properties();
		for (std::size_t i = 0; i < ps.size(); i++)
			if (ps[i].name == n)
				return static_cast<int>(i);
		return -1;
	}
	std::string property_list() const
	{
		std::string r = "all";
		for (const PropertyInfo& p : checker_properties)
			r += ", " + std::string(p.name);
		for (const PropertyInfo& p : system_properties())
			r += ", " + std::string(p.name);
		return r;
	}
	std::string system_name() const { return sys_ == Sys::tdx ? "tdx" : sys_ == Sys::dpamt ? "dpamt" : "root"; }

	void require(std::string_view what, const std::string& field) const
	{
		if (field.empty())
			fail(what, "missing (every configuration has configuration, summary, source, expect, system)");
	}

	// The expected verdict is "pass" or a property this file checks.
	void check_expect()
	{
		line_ = expect_line_;
		if (expect_ == "pass" || (expect_ == "deadlock" && deadlock_) || (expect_ == "termination" && termination_))
			return;
		const int bit = property_bit(expect_);
		if (bit >= 0 && (props_ >> bit & 1))
			return;
		fail("expect", echo(expect_) + " is neither pass nor a property this configuration checks (" +
				       property_list() + ")");
	}

	McConfig finish()
	{
		require("configuration", name_);
		require("summary", summary_);
		require("source", source_);
		require("expect", expect_);
		if (sys_ == Sys::none)
			fail("system", "missing (every configuration has configuration, summary, source, expect, system)");
		for (char c : name_)
			if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
				fail("configuration", "a name is letters, digits, '.', '-' and '_', got " + echo(name_));
		check_expect();
		line_ = 0;
		McConfig c;
		c.name = name_;
		c.summary = summary_;
		c.source = source_;
		c.expected = expect_;
		c.file = file_;
		c.deadlock = deadlock_;
		c.termination = termination_;
		c.deep = deep_;
		for (std::size_t i = 0; i < system_properties().size(); i++)
			if (props_ >> i & 1)
				c.properties.emplace_back(system_properties()[i].name);
		if (sys_ == Sys::dpamt)
			return finish_dpamt(std::move(c));
		return sys_ == Sys::tdx ? finish_tdx(std::move(c)) : finish_root(std::move(c));
	}

	McConfig finish_dpamt(McConfig c)
	{
		if (dpamt_.tasks.empty())
			fail("task", "a configuration needs at least one task");
		dpamt_.properties = props_;
		c.system = "dpamt";
		const DpamtConfig dc = dpamt_;
		c.run_system = [dc](const Options& o) { return check(DpamtSystem(dc), o); };
		return c;
	}

	McConfig finish_tdx(McConfig c)
	{
		if (tdx_.tasks.empty())
			fail("task", "a configuration needs at least one task");
		for (std::size_t i = 0; i < tdx_.tasks.size(); i++)
			if (tdx_.tasks[i].kind == TdxTask::split && !tdx_.huge) {
				line_ = task_lines_[i];
				fail("task", "split needs geometry huge-page=yes (a 2M private page to split)");
			} else if (tdx_.tasks[i].kind == TdxTask::terminate &&
				   tdx_.tdx_variants.terminate_vm == impl::TdxVariants::TerminateVm::none) {
				line_ = task_lines_[i];
				fail("task", "terminate needs variant terminate-vm=... (v6.19 has no KVM_TDX_TERMINATE_VM)");
			}
		for (std::size_t i = 0; i < tdx_.tasks.size(); i++)
			if (tdx_.tasks[i].stepping_filter && !tdx_.lock_windows) {
				line_ = task_lines_[i];
				fail("stepping-filter", "needs geometry module-locks=windows (atomic SEAMCALLs hold no "
							"lock across steps)");
			}
		tdx_.properties = props_;
		c.system = "tdx";
		if (const std::string why = TdxSystem(tdx_).validate(); !why.empty())
			fail("geometry", why);
		const TdxMcConfig tc = tdx_;
		c.run_system = [tc](const Options& o) { return check(TdxSystem(tc), o); };
		return c;
	}

	McConfig finish_root(McConfig c)
	{
		if (puts_ != 1)
			fail("task", "a root configuration has exactly one put task, got " + std::to_string(puts_));
		if (zappers_ > 1)
			fail("task", "at most one zap-all-fast task");
		root_.zapper = zappers_ == 1;
		if (root_.zapper && root_.variant != impl::PutRootVariant::v6_19)
			fail("task", "zap-all-fast (the gifted TDP MMU reference) exists with put-root=v6.19 only");
		if (root_.iterators > 5)
			fail("task", "at most 5 next-root tasks");
		if (root_.variant != impl::PutRootVariant::v6_19 && props_listed_ && (props_ >> ROOT_V6_19_ONLY_FROM)) {
			line_ = props_line_;
			fail("properties", "the root.* invariants marked v6.19 hold for put-root=v6.19 only");
		}
		if (root_.variant != impl::PutRootVariant::v6_19)
			props_ &= (1u << ROOT_V6_19_ONLY_FROM) - 1;
		root_.properties = props_;
		c.properties.clear();
		for (std::size_t i = 0; i < std::size(root_properties); i++)
			if (props_ >> i & 1)
				c.properties.emplace_back(root_properties[i].name);
		c.system = "root";
		const RootConfig rc = root_;
		c.run_system = [rc](const Options& o) { return check(RootSystem(rc), o); };
		c.promela = [rc] { return root_promela(rc); };
		return c;
	}

	std::string file_;
	std::uint64_t line_ = 0;
	std::string name_, summary_, source_, expect_;
	std::uint64_t expect_line_ = 0;
	Sys sys_ = Sys::none;
	std::vector<std::string> keys_;
	TdxMcConfig tdx_{};
	DpamtConfig dpamt_{};
	std::vector<std::uint64_t> task_lines_;
	RootConfig root_{impl::PutRootVariant::v6_19, 0, false};
	unsigned ntasks_ = 0, puts_ = 0, zappers_ = 0;
	bool props_given_ = false, props_listed_ = false;
	std::uint64_t props_line_ = 0;
	std::uint32_t props_ = ~0u;
	bool deadlock_ = true, termination_ = true;
	bool tier_given_ = false, deep_ = false;
};

} // namespace

McConfig parse_mc_config(support::ByteSource& src)
{
	support::LineReader lines(src, MC_CONFIG_MAX_LINE);
	return Reader(src.name()).read(lines);
}

McConfig parse_mc_config(const std::string& text, const std::string& name)
{
	support::StringSource src(text, name);
	return parse_mc_config(src);
}

} // namespace arborist::mc
