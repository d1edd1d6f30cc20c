using Invalidator.Core.ChangeEvents;
using YamlDotNet.Core;

namespace Invalidator.Core.Rules;

/// <summary>
/// Loads the rules file (see <c>deploy/rules.example.yaml</c>). Every problem becomes a <see cref="RuleError"/>
/// with file, line and column; all of them are collected before throwing, except YAML syntax errors, after
/// which nothing further can be trusted.
/// </summary>
public static class RulesLoader
{
    private static readonly string[] TopLevelFields = ["tables"];
    private static readonly string[] TableFields = ["keys", "tags", "ops", "changed", "truncate", "decimals", "replicaIdentity", "format", "leases", "secondDelete", "shadow", "waitForReplicas"];
    private static readonly string[] TruncateFields = ["keys", "tags"];
    private const string ValidOps = "c (insert), u (update), d (delete), r (snapshot read) and t (truncate)";

    private static readonly Dictionary<string, ReplicaIdentity> ReplicaIdentities = new(StringComparer.Ordinal)
    {
        ["full"] = ReplicaIdentity.Full,
        ["default"] = ReplicaIdentity.Default,
    };

    private static readonly Dictionary<string, RecordFormat> Formats = new(StringComparer.Ordinal)
    {
        ["auto"] = RecordFormat.Auto,
        ["envelope"] = RecordFormat.Envelope,
        ["unwrapped"] = RecordFormat.Unwrapped,
    };

    /// <exception cref="RulesException">The file cannot be read or is not a valid rules file.</exception>
    public static RuleSet LoadFile(string path) => LoadFile(path, RulesLimits.Default);

    /// <inheritdoc cref="LoadFile(string)"/>
    public static RuleSet LoadFile(string path, RulesLimits limits) => Parse(ReadFile(path, limits), path, limits);

    /// <summary>
    /// The text of a rules file, for callers that also need the text itself (the worker's rules version is a hash of
    /// it); <see cref="Parse"/> it with the same path. A missing or unreadable file gives the same errors as
    /// <see cref="LoadFile"/>.
    /// </summary>
    /// <exception cref="RulesException">The file cannot be read.</exception>
    public static string ReadFile(string path) => ReadFile(path, RulesLimits.Default);

    /// <summary>
    /// The text of a rules file within <paramref name="limits"/>: a regular file of at most
    /// <see cref="RulesLimits.MaxBytes"/> bytes, in UTF-8 (see <see cref="RulesFileReader"/>).
    /// </summary>
    /// <exception cref="RulesException">The file cannot be read, or is not a regular UTF-8 file within the limits.</exception>
    public static string ReadFile(string path, RulesLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return RulesFileReader.Read(path, limits);
    }

    /// <exception cref="RulesException">The text is not a valid rules file.</exception>
    public static RuleSet Parse(string yaml, string fileName) => Parse(yaml, fileName, RulesLimits.Default);

    /// <summary>
    /// Parses rules text within <paramref name="limits"/>' nesting depth and alias expansion; the errors thrown are the
    /// first <see cref="RulesLimits.MaxErrors"/> in file order, with the count of all of them.
    /// </summary>
    /// <exception cref="RulesException">The text is not a valid rules file.</exception>
    public static RuleSet Parse(string yaml, string fileName, RulesLimits limits)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(limits);
        var validator = new RulesValidator(yaml, fileName, limits);
        var rules = validator.Validate();
        if (validator.Errors.Count > 0)
        {
            // Kept sorted so the output reads top to bottom, errors on the same spot in the order found.
            throw validator.Errors.ToException();
        }

        return new RuleSet(fileName, rules);
    }

    /// <summary>Walks the YAML tree once, building rules and collecting errors.</summary>
    private sealed class RulesValidator(string yaml, string file, RulesLimits limits)
    {
        public RuleErrorList Errors { get; } = new(limits.MaxErrors);

        public List<TableRule> Validate()
        {
            var tables = new List<TableRule>();
            YamlSourceNode? root;
            try
            {
                root = YamlSourceReader.Read(yaml, limits, out var extraDocument);
                if (extraDocument is { } extra)
                {
                    Errors.Add(new RuleError(file, checked((int)extra.Line), checked((int)extra.Column),
                        "the file holds a second YAML document ('---'): put every table under the one 'tables:' mapping"));
                }
            }
            catch (YamlLimitException ex)
            {
                Errors.Add(new RuleError(file, checked((int)ex.Start.Line), checked((int)ex.Start.Column), ex.Reason));
                return tables;
            }
            catch (YamlException ex)
            {
                Errors.Add(new RuleError(file, checked((int)ex.Start.Line), checked((int)ex.Start.Column),
                    $"YAML syntax error: {ex.Message.TrimEnd('.')}. Check the indentation, quotes and brackets here and on the line before."));
                return tables;
            }

            if (root is null || root.IsNull)
            {
                Error(root?.Line ?? 1, root?.Column ?? 1, "the rules file is empty: add a 'tables:' mapping with one entry per table, such as 'public.customers: { keys: [\"customer:{id}\"] }'");
                return tables;
            }

            if (root.Kind != YamlSourceNodeKind.Mapping)
            {
                Error(root, $"the top level must be a mapping with a 'tables:' field, but it is {root.Describe()}");
                return tables;
            }

            var fields = Fields(root, TopLevelFields, "the top level");
            if (!fields.TryGetValue("tables", out var tablesEntry))
            {
                Error(root, "the 'tables:' field is missing: list the tables under it, such as 'tables: { public.customers: { keys: [\"customer:{id}\"] } }'");
                return tables;
            }

            var tablesNode = tablesEntry.Value;
            if (tablesNode.IsNull || (tablesNode.Kind == YamlSourceNodeKind.Mapping && tablesNode.Entries.Count == 0))
            {
                Error(tablesEntry.Key, "'tables' is empty: add at least one table, such as 'public.customers: { keys: [\"customer:{id}\"] }'");
                return tables;
            }

            if (tablesNode.Kind != YamlSourceNodeKind.Mapping)
            {
                Error(tablesNode, $"'tables' must be a mapping from 'schema.table' to its rule, but it is {tablesNode.Describe()}");
                return tables;
            }

            var seen = new Dictionary<string, YamlSourceNode>(StringComparer.Ordinal);
            foreach (var (key, value) in tablesNode.Entries)
            {
                if (key.Kind != YamlSourceNodeKind.Scalar || key.IsNull)
                {
                    Error(key, $"a table name must be text such as 'public.customers', but it is {key.Describe()}");
                    continue;
                }

                var name = key.Value;
                if (seen.TryGetValue(name, out var first))
                {
                    Error(key, $"duplicate table '{name}' (first defined on line {first.Line}): merge the two entries into one");
                    _ = Table(key, name, value); // Still checked, so its own errors show in the same run.
                    continue;
                }

                seen.Add(name, key);
                if (!IsTableName(name))
                {
                    Error(key, $"table name '{name}' must be 'schema.table', with exactly one dot between two non-empty parts (for example public.customers)");
                }

                if (Table(key, name, value) is { } rule)
                {
                    tables.Add(rule);
                }
            }

            return tables;
        }

        private TableRule? Table(YamlSourceNode key, string name, YamlSourceNode node)
        {
            if (node.IsNull)
            {
                Error(key, $"table '{name}' does nothing: give it keys, tags or truncate entries, or remove it");
                return null;
            }

            if (node.Kind != YamlSourceNodeKind.Mapping)
            {
                Error(node, $"table '{name}' must be a mapping of {string.Join(", ", TableFields)}, but it is {node.Describe()}");
                return null;
            }

            var errorsBefore = Errors.Count;
            var fields = Fields(node, TableFields, $"table '{name}'");
            var keys = Templates(fields, "keys", name, "[\"customer:{id}\"]");
            var tags = Templates(fields, "tags", name, "[\"tenant:{tenant_id}\"]");
            var (truncateKeys, truncateTags) = Truncate(fields, name);

            // 't' is judged by the truncate field, not its parsed entries, so a broken entry does not also fail 't';
            // 'changed' skips its ops cross-check when ops itself was broken.
            var opsErrorsBefore = Errors.Count;
            var ops = Ops(fields, name, fields.ContainsKey("truncate"));
            var changed = Changed(fields, name, Errors.Count == opsErrorsBefore ? ops : null);
            var decimals = ColumnNames(fields, "decimals", name, "[price, total]", out _);
            var replicaIdentity = Choice(fields, "replicaIdentity", name, ReplicaIdentities, ReplicaIdentity.Full,
                "'full' (the default: before images carry the whole old row) or 'default' (only the key columns of an old row are real)");
            var format = Choice(fields, "format", name, Formats, RecordFormat.Auto,
                "'auto' (the default: detect each record), 'envelope' (Debezium envelopes) or 'unwrapped' (ExtractNewRecordState rows)");
            var leases = Flag(fields, "leases", name, "write 'leases: true' to delete each key's lease key with it, or remove the line");
            var shadow = Flag(fields, "shadow", name, "write 'shadow: true' to plan and count this table's invalidations without deleting anything, or remove the line");
            var secondDelete = SecondDelete(fields, name);
            var waitForReplicas = Flag(fields, "waitForReplicas", name,
                "write 'waitForReplicas: true' to delete this table's keys once more when every read replica has replayed the change, or remove the line");

            // Only when the fields themselves were fine: a broken 'keys' would otherwise also report "does nothing".
            if (Errors.Count == errorsBefore && keys.Count + tags.Count + truncateKeys.Count + truncateTags.Count == 0)
            {
                Error(key, $"table '{name}' does nothing: give it keys, tags or truncate entries, or remove it");
            }

            return new TableRule
            {
                Table = name,
                Keys = keys,
                Tags = tags,
                Ops = ops,
                Changed = changed,
                TruncateKeys = truncateKeys,
                TruncateTags = truncateTags,
                Decimals = decimals,
                ReplicaIdentity = replicaIdentity,
                ReplicaIdentityStated = fields.ContainsKey("replicaIdentity"),
                Format = format,
                Leases = leases,
                SecondDelete = secondDelete,
                Shadow = shadow,
                WaitForReplicas = waitForReplicas,
                Line = key.Line,
            };
        }

        private List<KeyTemplate> Templates(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string field, string table, string example)
        {
            var templates = new List<KeyTemplate>();
            foreach (var item in Items(fields, field, table, example, allowEmpty: true))
            {
                if (Template(item, field, table) is { } template)
                {
                    templates.Add(template);
                }
            }

            return templates;
        }

        private (List<string> Keys, List<string> Tags) Truncate(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string table)
        {
            List<string> keys = [], tags = [];
            if (!fields.TryGetValue("truncate", out var entry))
            {
                return (keys, tags);
            }

            // Two spellings: a list is shorthand for { keys: [...] }.
            if (entry.Value.Kind == YamlSourceNodeKind.Mapping)
            {
                var inner = Fields(entry.Value, TruncateFields, $"'truncate' of table '{table}'");
                StaticKeys(Items(inner, "keys", table, "[\"customers:all\"]", allowEmpty: true, "'truncate.keys'"), "truncate keys", table, keys);
                StaticKeys(Items(inner, "tags", table, "[\"customers\"]", allowEmpty: true, "'truncate.tags'"), "truncate tags", table, tags);
            }
            else
            {
                StaticKeys(Items(fields, "truncate", table, "[\"customers:all\"] or { keys: [...], tags: [...] }", allowEmpty: true), "truncate", table, keys);
            }

            return (keys, tags);
        }

        private void StaticKeys(List<YamlSourceNode> items, string field, string table, List<string> into)
        {
            foreach (var item in items)
            {
                if (Template(item, field, table) is not { } template)
                {
                    continue;
                }

                if (!template.IsStatic)
                {
                    Error(At(item, template.FirstPlaceholderPosition),
                        $"{field} entries must be static, but \"{template.Text}\" of table '{table}' uses column '{template.Columns[0]}' and a truncate has no rows: use a fixed key such as \"customers:all\" (write '{{{{' for a literal brace)");
                    continue;
                }

                into.Add(template.StaticValue!);
            }
        }

        private KeyTemplate? Template(YamlSourceNode item, string field, string table)
        {
            try
            {
                return KeyTemplate.Parse(item.Value);
            }
            catch (TemplateSyntaxException ex)
            {
                Error(At(item, ex.Position), $"bad template \"{item.Value}\" in {field} of table '{table}': {ex.Message}");
                return null;
            }
        }

        private IReadOnlySet<ChangeOperation> Ops(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string table, bool hasTruncate)
        {
            if (!fields.TryGetValue("ops", out var entry))
            {
                // A truncate entry implies 't' even when ops is left at its default.
                return hasTruncate
                    ? new HashSet<ChangeOperation>(TableRule.DefaultOps) { ChangeOperation.Truncate }
                    : TableRule.DefaultOps;
            }

            var ops = new HashSet<ChangeOperation>();
            var items = Items(fields, "ops", table, "[c, u, d]", allowEmpty: false);
            foreach (var item in items)
            {
                if (item.Value == "m")
                {
                    Error(item, $"op 'm' (logical message) has no row to build keys from: remove it; valid ops are {ValidOps}");
                }
                else if (!ChangeOperationCodes.TryParse(item.Value, out var op))
                {
                    Error(item, $"unknown op '{item.Value}': valid ops are {ValidOps}");
                }
                else if (op == ChangeOperation.Truncate && !hasTruncate)
                {
                    Error(item, $"op 't' needs static keys to delete when table '{table}' is truncated: add 'truncate: [\"...\"]' or remove 't'");
                }
                else
                {
                    ops.Add(op);
                }
            }

            if (hasTruncate)
            {
                // A truncate entry implies 't' even when ops does not list it.
                ops.Add(ChangeOperation.Truncate);
            }

            return ops;
        }

        private List<string>? Changed(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string table, IReadOnlySet<ChangeOperation>? ops)
        {
            if (!fields.TryGetValue("changed", out var entry))
            {
                return null;
            }

            var columns = ColumnNames(fields, "changed", table, "[email, name]", out var listed);
            if (listed > 0 && ops is not null && !ops.Contains(ChangeOperation.Update))
            {
                Error(entry.Key, $"'changed' of table '{table}' only filters updates, but its ops do not include 'u': add 'u' to ops or remove 'changed'");
            }

            return columns;
        }

        /// <summary>A list of bare column names (<c>changed</c>, <c>decimals</c>); empty when the field is absent or broken.</summary>
        private List<string> ColumnNames(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string field, string table, string example, out int listed)
        {
            var columns = new List<string>();
            var items = Items(fields, field, table, example, allowEmpty: false);
            listed = items.Count;
            foreach (var item in items)
            {
                var column = item.Value;
                var bad = IndexOfNonColumnChar(column);
                if (bad >= 0)
                {
                    Error(At(item, bad), $"'{column}' in '{field}' of table '{table}' is not a column name: write bare names without braces, '|' or spaces, such as {example}");
                    continue;
                }

                columns.Add(column);
            }

            return columns;
        }

        /// <summary>A scalar field with a fixed set of values, spelt exactly; <paramref name="fallback"/> when absent or broken.</summary>
        private T Choice<T>(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string field, string table, IReadOnlyDictionary<string, T> values, T fallback, string meaning)
        {
            if (!fields.TryGetValue(field, out var entry))
            {
                return fallback;
            }

            var node = entry.Value;
            var names = values.Keys.Select(v => $"'{v}'").ToList();
            var allowed = names.Count == 1 ? names[0] : $"{string.Join(", ", names[..^1])} or {names[^1]}";
            if (node.Kind != YamlSourceNodeKind.Scalar || node.IsNull)
            {
                Error(node.IsNull ? entry.Key : node, $"'{field}' of table '{table}' must be {allowed}, but it is {(node.IsNull ? "empty" : node.Describe())}: write for example '{field}: {values.Keys.First()}'; it is {meaning}");
                return fallback;
            }

            if (values.TryGetValue(node.Value, out var value))
            {
                return value;
            }

            var suggestion = values.Keys.FirstOrDefault(v => IsNear(v, node.Value)) is { } near ? $"did you mean '{near}'? " : "";
            Error(node, $"unknown {field} '{node.Value}' for table '{table}': {suggestion}it must be {allowed}, spelt exactly: {meaning}");
            return fallback;
        }

        /// <summary>A true/false field (<c>leases</c>, <c>shadow</c>, <c>waitForReplicas</c>); false when absent or broken.</summary>
        private bool Flag(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string field, string table, string fix)
        {
            if (!fields.TryGetValue(field, out var entry))
            {
                return false;
            }

            var (key, node) = entry;
            if (node.Kind == YamlSourceNodeKind.Scalar && !node.IsNull && bool.TryParse(node.Value, out var value))
            {
                return value;
            }

            Error(node.IsNull ? key : node, $"'{field}' of table '{table}' must be true or false, but it is {(node.IsNull ? "empty" : node.Kind == YamlSourceNodeKind.Scalar ? $"'{node.Value}'" : node.Describe())}: {fix}");
            return false;
        }

        private TimeSpan? SecondDelete(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string table)
        {
            if (!fields.TryGetValue("secondDelete", out var entry))
            {
                return null;
            }

            var (key, node) = entry;
            var how = "write a whole number with ms, s or m, such as 'secondDelete: 800ms' (longer than your readers' slowest read-to-populate), or 'secondDelete: 0s' to turn it off for this table";
            if (node.Kind != YamlSourceNodeKind.Scalar || node.IsNull)
            {
                Error(node.IsNull ? key : node, $"'secondDelete' of table '{table}' must be a duration, but it is {(node.IsNull ? "empty" : node.Describe())}: {how}");
                return null;
            }

            if (!RuleDuration.TryParse(node.Value, out var delay))
            {
                var unitless = node.Value.Length > 0 && node.Value.All(char.IsAsciiDigit) ? $" (a bare number has no unit: '{node.Value}ms' or '{node.Value}s'?)" : "";
                Error(node, $"'secondDelete' of table '{table}' is '{node.Value}', not a duration{unitless}: {how}");
                return null;
            }

            if (delay > TableRule.MaxSecondDelete)
            {
                Error(node, $"'secondDelete' of table '{table}' is {node.Value}, longer than the limit of {RuleDuration.Format(TableRule.MaxSecondDelete)}: positions are acknowledged only after the second delete, so a long delay holds back every commit behind it; use a delay a little longer than your readers' slowest read-to-populate");
                return null;
            }

            return delay;
        }

        /// <summary>The scalar items of a list field, checked for type, emptiness and duplicates. Empty when the field is absent or broken.</summary>
        private List<YamlSourceNode> Items(Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> fields, string field, string table, string example, bool allowEmpty, string? label = null)
        {
            label ??= $"'{field}'";
            var items = new List<YamlSourceNode>();
            if (!fields.TryGetValue(field, out var entry))
            {
                return items;
            }

            var (key, node) = entry;
            if (node.IsNull)
            {
                Error(key, $"{label} of table '{table}' has no value: write a list such as '{field}: {example}', or remove the line");
                return items;
            }

            if (node.Kind == YamlSourceNodeKind.Scalar)
            {
                Error(node, $"{label} of table '{table}' must be a list: write '{field}: [{Quote(node.Value)}]' instead of a single value");
                return items;
            }

            if (node.Kind != YamlSourceNodeKind.Sequence)
            {
                Error(node, $"{label} of table '{table}' must be a list such as {example}, but it is {node.Describe()}");
                return items;
            }

            if (node.Items.Count == 0 && !allowEmpty)
            {
                Error(node, field switch
                {
                    "changed" => $"'changed' of table '{table}' is empty, so no update would ever invalidate: list the columns to watch or remove 'changed'",
                    "decimals" => $"'decimals' of table '{table}' is empty: list the columns that hold decimals, such as {example}, or remove 'decimals'",
                    _ => $"{label} of table '{table}' is empty, so the table would never invalidate anything: list at least one op, or remove 'ops' for the default [c, u, d]",
                });
                return items;
            }

            var seen = new Dictionary<string, YamlSourceNode>(StringComparer.Ordinal);
            foreach (var item in node.Items)
            {
                if (item.Kind != YamlSourceNodeKind.Scalar)
                {
                    Error(item, $"each entry of {label} in table '{table}' must be a single value, but this is {item.Describe()}: write the list as {example}");
                }
                else if (item.IsNull)
                {
                    Error(item, item.Value.Length == 0
                        ? $"an entry of {label} in table '{table}' is empty: remove it or write a value"
                        : $"an entry of {label} in table '{table}' is null ('{item.Value}'): quote it (\"{item.Value}\") if it is meant literally, or remove it");
                }
                else if (seen.TryGetValue(item.Value, out var first))
                {
                    Error(item, $"'{item.Value}' is listed twice in {label} of table '{table}' (first on line {first.Line}): remove one");
                }
                else
                {
                    seen.Add(item.Value, item);
                    items.Add(item);
                }
            }

            return items;
        }

        /// <summary>The fields of a mapping by name, reporting unknown, duplicate and non-text field names.</summary>
        private Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>> Fields(YamlSourceNode mapping, string[] allowed, string where)
        {
            var fields = new Dictionary<string, KeyValuePair<YamlSourceNode, YamlSourceNode>>(StringComparer.Ordinal);
            var list = string.Join(", ", allowed);
            foreach (var entry in mapping.Entries)
            {
                var key = entry.Key;
                if (key.Kind != YamlSourceNodeKind.Scalar)
                {
                    Error(key, $"a field name in {where} must be one of {list}, but it is {key.Describe()}");
                }
                else if (!allowed.Contains(key.Value))
                {
                    var suggestion = allowed.FirstOrDefault(a => IsNear(a, key.Value)) is { } near ? $"did you mean '{near}'? " : "";
                    Error(key, $"unknown field '{key.Value}' in {where}: {suggestion}allowed fields are {list}");
                }
                else if (fields.TryGetValue(key.Value, out var first))
                {
                    Error(key, $"duplicate field '{key.Value}' in {where} (first on line {first.Key.Line}): merge them into one");
                }
                else
                {
                    fields.Add(key.Value, entry);
                }
            }

            return fields;
        }

        /// <summary>
        /// Where character <paramref name="position"/> of a scalar's value sits in the file. Exact for one-line
        /// plain and quoted scalars without escapes, whose value is their source text; otherwise the scalar's start.
        /// </summary>
        private (int Line, int Column) At(YamlSourceNode scalar, int position)
        {
            var quote = scalar.Style switch
            {
                ScalarStyle.Plain => 0,
                ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted => 1,
                _ => -1,
            };
            if (quote < 0 || scalar.Start.Line != scalar.End.Line || position < 0 || position > scalar.Value.Length)
            {
                return (scalar.Line, scalar.Column);
            }

            var start = checked((int)scalar.Start.Index) + quote;
            var length = checked((int)scalar.End.Index) - quote - start;
            return length == scalar.Value.Length && start + length <= yaml.Length && string.CompareOrdinal(yaml, start, scalar.Value, 0, length) == 0
                ? (scalar.Line, scalar.Column + quote + position)
                : (scalar.Line, scalar.Column);
        }

        private void Error(YamlSourceNode node, string message) => Error(node.Line, node.Column, message);

        private void Error((int Line, int Column) at, string message) => Error(at.Line, at.Column, message);

        private void Error(int line, int column, string message) => Errors.Add(new RuleError(file, line, column, message));
    }

    // Same rule as template placeholders: anything but braces, '|' and whitespace.
    private static int IndexOfNonColumnChar(string column)
    {
        for (var i = 0; i < column.Length; i++)
        {
            if (column[i] is '{' or '}' or '|' || char.IsWhiteSpace(column[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool IsTableName(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot > 0
            && dot < name.Length - 1
            && name.IndexOf('.', dot + 1) < 0
            && !char.IsWhiteSpace(name[0]) && !char.IsWhiteSpace(name[dot - 1])
            && !char.IsWhiteSpace(name[dot + 1]) && !char.IsWhiteSpace(name[^1]);
    }

    private static string Quote(string value) => $"\"{value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"";

    // Case-insensitive match or one edit away: enough to catch 'Keys', 'key' and 'tag'.
    private static bool IsNear(string allowed, string written)
    {
        if (string.Equals(allowed, written, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var a = allowed.ToLowerInvariant();
        var b = written.ToLowerInvariant();
        if (Math.Abs(a.Length - b.Length) > 1)
        {
            return false;
        }

        var i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i])
        {
            i++;
        }

        // One substitution, insertion or deletion at the first difference.
        return a.AsSpan(Math.Min(i + 1, a.Length)).SequenceEqual(b.AsSpan(Math.Min(i + 1, b.Length)))
            || a.AsSpan(i).SequenceEqual(b.AsSpan(Math.Min(i + 1, b.Length)))
            || a.AsSpan(Math.Min(i + 1, a.Length)).SequenceEqual(b.AsSpan(i));
    }
}
