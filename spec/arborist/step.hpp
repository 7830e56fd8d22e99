// SPDX-License-Identifier: GPL-2.0-only
//
// The outcome of one whole-call step of a spec transition system.
#pragma once

namespace arborist::spec {

//  enabled: the caller's precondition (e.g. "holds a reference" for a put);
//  bug:     a KVM_BUG_ON/WARN in the kernel code fired, i.e. the spec
//           rejects the step even though the caller was allowed to try it;
//  ok:      the call's own result (get_root's return value, TRACK's
//           success), true when the call cannot fail.
template <class D, class S>
struct Step {
	typename D::Bool enabled;
	typename D::Bool bug;
	typename D::Bool ok;
	S post;
};

} // namespace arborist::spec
