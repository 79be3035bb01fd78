#pragma once

#include "gates/gates.hpp"
#include "model/mlmodel.hpp"

#include <optional>

namespace mlops::gates {

/// Ends a gate: failed with the first problem as reason and all as details
/// when there are problems, else passed with the notes joined by `sep`.
void conclude(GateResult& g, std::vector<std::string> problems, std::vector<std::string> notes,
              const std::string& sep = "; ");

/// Flavor, signature and input examples against the signature.
GateResult interface_gate(const Target& t, const Policy& p, const model::MlModel& m);

/// Environment files, pinned requirements, Python version, forbidden and
/// required packages.
GateResult environment_gate(const Target& t, const Policy& p, const model::MlModel& m);

/// Thresholds on the version's metrics and comparisons with other versions.
GateResult metrics_gate(const Target& t, const Policy& p, const std::optional<model::MlModel>& m,
                        mlflow::Client* client);

} // namespace mlops::gates
