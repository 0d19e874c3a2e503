// Where ops gets engine drivers: engine::MakeDriver in the service, a fake engine in tests.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "engine/engine.h"

namespace mdb::ops {

using DriverFactory =
    std::function<absl::StatusOr<std::unique_ptr<engine::Driver>>(common::Engine)>;

}  // namespace mdb::ops
