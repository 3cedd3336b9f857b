// oneclass/eval.hpp - evaluation: exact ROC AUC and the one-vs-rest protocol.
#pragma once
#include <oneclass/eval/one_vs_rest.hpp>
#include <oneclass/eval/ensemble.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/eval/uniformity.hpp>
