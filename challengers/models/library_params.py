"""The parameter names each tree library accepts in its ``params``, aliases included.

A name the library does not know is not an error to it: LightGBM logs "Unknown parameter" (silent at
the verbosity the tool trains with) and XGBoost "Parameters: { ... } are not used" (likewise), and
both train with their defaults. A challenger whose ``max_dept: 3`` trained at depth 6, logged to
MLflow as depth 3, is a wrong result no one sees; so the config refuses such a name when it loads
(:func:`challengers.models.params.check_library_params`), without importing either library.

The lists are the locked versions' own (LightGBM 4.7.0, XGBoost 3.2.0):
``tests/models/test_library_params.py`` derives them from the installed libraries (LightGBM's
parameter and alias table, ``LGBM_DumpParamAliases``; every name XGBoost keeps in a booster's
configuration, for each booster, tree method and the objectives a fraud model could use, that it
then accepts without calling it unused) and fails, naming the difference, when an upgrade changes
them.
"""

from __future__ import annotations


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


LIGHTGBM = _names(
    """
    alpha app application auc_mu_weights bagging bagging_by_query bagging_fraction
    bagging_fraction_seed bagging_freq bagging_seed bin_construct_sample_cnt blacklist boost
    boost_from_average boosting boosting_type bundle cat_column cat_feature cat_l2 cat_smooth
    categorical_column categorical_feature categorical_features cegb_penalty_feature_coupled
    cegb_penalty_feature_lazy cegb_penalty_split cegb_tradeoff colsample_bynode
    colsample_bytree config config_file contrib convert_model convert_model_file
    convert_model_language data data_filename data_random_seed data_sample_strategy data_seed
    deterministic device device_type drop_rate drop_seed early_stopping
    early_stopping_min_delta early_stopping_round early_stopping_rounds enable_bundle
    enable_sparse eta eval_at extra_seed extra_tree extra_trees fair_c fc feature_contri
    feature_contrib feature_fraction feature_fraction_bynode feature_fraction_seed
    feature_penalty feature_pre_filter first_metric_only force_col_wise force_row_wise
    forced_splits forced_splits_file forced_splits_filename forcedbins_filename
    forcedsplits_filename fp fs gpu_device_id gpu_device_id_list gpu_platform_id gpu_use_dp
    group group_column group_id has_header header hist_pool_size histogram_pool_size
    ignore_column ignore_feature input_model interaction_constraints is_enable_bundle
    is_enable_sparse is_pre_partition is_predict_contrib is_predict_leaf_index
    is_predict_raw_score is_provide_training_metric is_save_binary is_save_binary_file
    is_sparse is_training_metric is_unbalance l1_regularization l2_regularization label
    label_column label_gain lambda lambda_l1 lambda_l2 lambdarank_norm
    lambdarank_position_bias_regularization lambdarank_truncation_level leaf_index
    learning_rate linear_lambda linear_tree linear_trees local_listen_port local_port loss
    machine_list machine_list_file machine_list_filename machines map_at map_eval_at max_bin
    max_bin_by_feature max_bins max_cat_threshold max_cat_to_onehot max_delta_step max_depth
    max_drop max_iter max_leaf max_leaf_nodes max_leaf_output max_leaves max_tree_output mc
    mc_method mc_penalty metric metric_freq metric_types metrics min_child_samples
    min_child_weight min_data min_data_in_bin min_data_in_leaf min_data_per_group
    min_data_per_leaf min_gain_to_split min_hessian min_samples_leaf min_split_gain
    min_sum_hessian min_sum_hessian_in_leaf min_sum_hessian_per_leaf mlist model_in model_input
    model_out model_output monotone_constraining_method monotone_constraint
    monotone_constraints monotone_constraints_method monotone_penalty monotone_splits_penalty
    monotonic_cst ms_penalty multi_error_top_k n_estimators n_iter n_iter_no_change n_jobs
    name_pred ndcg_at ndcg_eval_at neg_bagging neg_bagging_fraction neg_sub_row neg_subsample
    nodes nrounds nthread nthreads num_boost_round num_class num_classes num_gpu
    num_grad_quant_bins num_iteration num_iteration_predict num_iterations num_leaf num_leaves
    num_machine num_machines num_round num_rounds num_thread num_threads num_tree num_trees
    objective objective_seed objective_type other_rate output_freq output_model output_result
    parser_config_file path_smooth poisson_max_delta_step port pos_bagging pos_bagging_fraction
    pos_sub_row pos_subsample pre_partition precise_float_parser pred_early_stop
    pred_early_stop_freq pred_early_stop_margin pred_name predict_contrib
    predict_disable_shape_check predict_leaf_index predict_name predict_raw_score
    predict_rawscore predict_result prediction_name prediction_result quant_train_renew_leaf
    query query_column query_id random_seed random_state rate_drop raw_score refit_decay_rate
    reg_alpha reg_lambda reg_sqrt save_binary save_period saved_feature_importance_type
    scale_pos_weight seed shrinkage_rate sigmoid skip_drop snapshot_freq sparse
    start_iteration_predict stochastic_rounding sub_feature sub_feature_bynode sub_row
    subsample subsample_for_bin subsample_freq task task_type test test_data test_data_file
    time_out top_k top_rate topk train train_data train_data_file train_metric training_metric
    tree tree_learner tree_learner_type tree_type tweedie_variance_power two_round
    two_round_loading unbalance unbalanced_sets uniform_drop use_missing use_quantized_grad
    use_two_round_loading valid valid_data valid_data_file valid_filenames verbose verbosity
    weight weight_column workers xgboost_dart_mode zero_as_missing
    """
)

XGBOOST = _names(
    """
    alpha base_score boost_from_average booster colsample_bylevel colsample_bynode
    colsample_bytree debug_synchronize default_direction device disable_default_eval_metric eta
    eval_metric fail_on_invalid_gpu_id feature_selector gamma grow_policy huber_slope
    interaction_constraints lambda lambdarank_bias_norm lambdarank_normalization
    lambdarank_num_pair_per_sample lambdarank_pair_method lambdarank_score_normalization
    lambdarank_unbiased learning_rate max_bin max_cached_hist_node max_cat_threshold
    max_cat_to_onehot max_delta_step max_depth max_leaves max_row_perbatch min_child_weight
    min_split_loss monotone_constraints multi_strategy n_jobs ndcg_exp_gain normalize_type
    nthread num_class num_feature num_parallel_tree num_target objective one_drop opt_dense_col
    process_type quantile_alpha random_state rate_drop refresh_leaf reg_alpha reg_lambda
    sample_type sampling_method scale_pos_weight seed seed_per_iteration skip_drop
    sparse_threshold subsample tolerance top_k tree_method tweedie_variance_power updater
    updater_seq validate_parameters verbosity
    """
)


def _groups(text: str) -> dict[str, str]:
    """Each alias of ``text`` ("name: alias alias; ...") -> its parameter's name."""
    main_of = {}
    for group in text.split(";"):
        main, aliases = group.split(":")
        for name in [main, *aliases.split()]:
            main_of[name.strip()] = main.strip()
    return main_of


# the parameters known under more than one name, each with its aliases: LightGBM's table
# (LGBM_DumpParamAliases); XGBoost's, each name of a pair setting the other in a booster's
# configuration (both checked against the installed libraries by the tests). A library given two
# names of one parameter trains with one of them, while the config and MLflow show both.
LIGHTGBM_ALIASES = _groups(
    """
    bagging_fraction: bagging sub_row subsample; bagging_freq: subsample_freq; bagging_seed:
    bagging_fraction_seed; bin_construct_sample_cnt: subsample_for_bin; boosting: boost
    boosting_type; categorical_feature: cat_column cat_feature categorical_column
    categorical_features; config: config_file; convert_model: convert_model_file; data:
    data_filename train train_data train_data_file; data_random_seed: data_seed; device_type:
    device; drop_rate: rate_drop; early_stopping_round: early_stopping early_stopping_rounds
    n_iter_no_change; enable_bundle: bundle is_enable_bundle; eval_at: map_at map_eval_at
    ndcg_at ndcg_eval_at; extra_trees: extra_tree; feature_contri: fc feature_contrib
    feature_penalty fp; feature_fraction: colsample_bytree sub_feature; feature_fraction_bynode:
    colsample_bynode sub_feature_bynode; forcedsplits_filename: forced_splits forced_splits_file
    forced_splits_filename fs; group_column: group group_id query query_column query_id; header:
    has_header; histogram_pool_size: hist_pool_size; ignore_column: blacklist ignore_feature;
    input_model: model_in model_input; is_enable_sparse: enable_sparse is_sparse sparse;
    is_provide_training_metric: is_training_metric train_metric training_metric; is_unbalance:
    unbalance unbalanced_sets; label_column: label; lambda_l1: l1_regularization reg_alpha;
    lambda_l2: l2_regularization lambda reg_lambda; learning_rate: eta shrinkage_rate;
    linear_tree: linear_trees; local_listen_port: local_port port; machine_list_filename:
    machine_list machine_list_file mlist; machines: nodes workers; max_bin: max_bins;
    max_delta_step: max_leaf_output max_tree_output; metric: metric_types metrics; metric_freq:
    output_freq; min_data_in_leaf: min_child_samples min_data min_data_per_leaf
    min_samples_leaf; min_gain_to_split: min_split_gain; min_sum_hessian_in_leaf:
    min_child_weight min_hessian min_sum_hessian min_sum_hessian_per_leaf; monotone_constraints:
    mc monotone_constraint monotonic_cst; monotone_constraints_method: mc_method
    monotone_constraining_method; monotone_penalty: mc_penalty monotone_splits_penalty
    ms_penalty; neg_bagging_fraction: neg_bagging neg_sub_row neg_subsample; num_class:
    num_classes; num_iterations: max_iter n_estimators n_iter nrounds num_boost_round
    num_iteration num_round num_rounds num_tree num_trees; num_leaves: max_leaf max_leaf_nodes
    max_leaves num_leaf; num_machines: num_machine; num_threads: n_jobs nthread nthreads
    num_thread; objective: app application loss objective_type; output_model: model_out
    model_output; output_result: name_pred pred_name predict_name predict_result prediction_name
    prediction_result; pos_bagging_fraction: pos_bagging pos_sub_row pos_subsample;
    pre_partition: is_pre_partition; predict_contrib: contrib is_predict_contrib;
    predict_leaf_index: is_predict_leaf_index leaf_index; predict_raw_score:
    is_predict_raw_score predict_rawscore raw_score; save_binary: is_save_binary
    is_save_binary_file; seed: random_seed random_state; snapshot_freq: save_period; task:
    task_type; top_k: topk; tree_learner: tree tree_learner_type tree_type; two_round:
    two_round_loading use_two_round_loading; valid: test test_data test_data_file valid_data
    valid_data_file valid_filenames; verbosity: verbose; weight_column: weight
    """
)
XGBOOST_ALIASES = _groups(
    """
    learning_rate: eta; min_split_loss: gamma; reg_alpha: alpha; reg_lambda: lambda;
    nthread: n_jobs; seed: random_state
    """
)

TITLES = {"lightgbm": "LightGBM", "xgboost": "XGBoost"}
ACCEPTED = {"lightgbm": LIGHTGBM, "xgboost": XGBOOST}
ALIASES = {"lightgbm": LIGHTGBM_ALIASES, "xgboost": XGBOOST_ALIASES}


def parameter_of(library: str, name: str) -> str:
    """The name of the parameter ``name`` sets in ``library`` (itself unless an alias)."""
    return ALIASES.get(library, {}).get(name, name)


def aliases_of(library: str, name: str) -> set[str]:
    """Every name of the parameter ``name`` sets in ``library``, ``name`` included."""
    main = parameter_of(library, name)
    return {main, *(n for n, m in ALIASES.get(library, {}).items() if m == main)} | {name}
