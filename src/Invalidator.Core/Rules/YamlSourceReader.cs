using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Invalidator.Core.Rules;

internal enum YamlSourceNodeKind
{
    Scalar,
    Sequence,
    Mapping,
}

/// <summary>
/// A YAML node with its position. Unlike YamlDotNet's representation model, a mapping keeps every entry in
/// order, duplicates included, so the loader can report a duplicate key instead of losing or rejecting it.
/// </summary>
internal sealed class YamlSourceNode
{
    private YamlSourceNode(YamlSourceNodeKind kind, Mark start, Mark end)
    {
        Kind = kind;
        Start = start;
        End = end;
    }

    public YamlSourceNodeKind Kind { get; }

    public Mark Start { get; }

    public Mark End { get; }

    public int Line => checked((int)Start.Line);

    public int Column => checked((int)Start.Column);

    /// <summary>The scalar's value; empty for collections.</summary>
    public string Value { get; private init; } = "";

    public ScalarStyle Style { get; private init; }

    public List<YamlSourceNode> Items { get; } = [];

    public List<KeyValuePair<YamlSourceNode, YamlSourceNode>> Entries { get; } = [];

    /// <summary>
    /// About how much text the node stands for with its aliases expanded (a scalar's length, a collection's items'
    /// weights): what each alias to it adds to a walk of the tree.
    /// </summary>
    public long Weight { get; private set; }

    /// <summary>A plain null (<c>~</c>, <c>null</c>, or nothing at all, as in <c>keys:</c> with no value).</summary>
    public bool IsNull => Kind == YamlSourceNodeKind.Scalar && Style == ScalarStyle.Plain && Value is "" or "~" or "null" or "Null" or "NULL";

    /// <summary>How the node reads in a message: "a list", "a mapping", "the text 'x'", "nothing".</summary>
    public string Describe() => Kind switch
    {
        YamlSourceNodeKind.Sequence => "a list",
        YamlSourceNodeKind.Mapping => "a mapping",
        _ when IsNull => "nothing",
        _ => $"the text '{Value}'",
    };

    public static YamlSourceNode Scalar(Scalar scalar) =>
        new(YamlSourceNodeKind.Scalar, scalar.Start, scalar.End) { Value = scalar.Value, Style = scalar.Style, Weight = Math.Max(1, scalar.Value.Length) };

    public static YamlSourceNode Collection(YamlSourceNodeKind kind, Mark start, Mark end) => new(kind, start, end) { Weight = 1 };

    /// <summary>Adds a child's weight to this collection's (saturating: nested aliases multiply).</summary>
    public void AddWeight(YamlSourceNode child) => Weight = Weight > long.MaxValue - child.Weight ? long.MaxValue : Weight + child.Weight;
}

/// <summary>A limit of <see cref="RulesLimits"/> was reached while reading the YAML: its message is the whole error.</summary>
internal sealed class YamlLimitException(Mark start, Mark end, string reason) : YamlException(start, end, reason)
{
    /// <summary>The message without the positions YamlDotNet puts before it.</summary>
    public string Reason { get; } = reason;
}

/// <summary>Reads YAML text into <see cref="YamlSourceNode"/>s from YamlDotNet's event stream.</summary>
internal sealed class YamlSourceReader
{
    private readonly Parser _parser;
    private readonly Dictionary<string, YamlSourceNode> _anchors = new(StringComparer.Ordinal);
    private readonly RulesLimits _limits;
    private Mark _last = Mark.Empty;
    private long _aliasWeight;

    private YamlSourceReader(string yaml, RulesLimits limits)
    {
        _parser = new Parser(new StringReader(yaml));
        _limits = limits;
    }

    private ParsingEvent? Current => _parser.Current;

    /// <summary>Reads the first document; null when the text holds none (empty or only comments).</summary>
    /// <param name="extraDocument">Start of a second document, if any: a rules file has exactly one.</param>
    /// <exception cref="YamlException">Syntax error, or an alias to an anchor that was never defined.</exception>
    /// <exception cref="YamlLimitException">The YAML nests deeper than <see cref="RulesLimits.MaxDepth"/>, or its aliases
    /// expand to more than <see cref="RulesLimits.MaxBytes"/>.</exception>
    public static YamlSourceNode? Read(string yaml, RulesLimits limits, out Mark? extraDocument)
    {
        var reader = new YamlSourceReader(yaml, limits);
        YamlSourceNode? root = null;
        extraDocument = null;
        reader.Next();
        while (reader.Current is not null and not StreamEnd)
        {
            if (reader.Current is DocumentStart start)
            {
                if (root is not null)
                {
                    extraDocument ??= start.Start;
                    reader.SkipDocument();
                    continue;
                }

                reader.Next();
                root = reader.ReadNode(1);
                continue;
            }

            reader.Next();
        }

        return root;
    }

    private void Next()
    {
        try
        {
            _parser.MoveNext();
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet's scanner throws this (no position) on some broken input, such as an unclosed '['
            // followed by a 'key: value' line; report it at the last node that did parse.
            throw new YamlException(_last, _last, "the YAML cannot be read past this point; look for an unclosed '[' or '{' or a missing quote", ex);
        }

        if (_parser.Current is { } current)
        {
            _last = current.Start;
        }
    }

    /// <summary>Reads the node at <paramref name="depth"/> (the root is 1), refusing one past the depth limit before reading on.</summary>
    private YamlSourceNode ReadNode(int depth)
    {
        var current = Current;
        if (depth > _limits.MaxDepth && current is SequenceStart or MappingStart)
        {
            // Refused at the first level too deep: reading on would recurse as deep as the file goes.
            throw new YamlLimitException(current.Start, current.End,
                $"the YAML nests deeper than {_limits.MaxDepth} levels of lists and mappings here, the limit for a rules file (a rules file needs about 6): look for unclosed or stray '[' and '{{'");
        }

        YamlSourceNode node;
        switch (current)
        {
            case Scalar scalar:
                node = YamlSourceNode.Scalar(scalar);
                Next();
                break;
            case SequenceStart:
                node = YamlSourceNode.Collection(YamlSourceNodeKind.Sequence, current.Start, current.End);
                Next();
                while (Current is not SequenceEnd)
                {
                    var item = ReadNode(depth + 1);
                    node.Items.Add(item);
                    node.AddWeight(item);
                }

                Next();
                break;
            case MappingStart:
                node = YamlSourceNode.Collection(YamlSourceNodeKind.Mapping, current.Start, current.End);
                Next();
                while (Current is not MappingEnd)
                {
                    var key = ReadNode(depth + 1);
                    var value = ReadNode(depth + 1);
                    node.Entries.Add(new(key, value));
                    node.AddWeight(key);
                    node.AddWeight(value);
                }

                Next();
                break;
            case AnchorAlias alias:
                Next();
                if (!_anchors.TryGetValue(alias.Value.Value, out var target))
                {
                    throw new AnchorNotFoundException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to no anchor: define &{alias.Value.Value} before using it");
                }

                // An alias repeats its anchor's whole content wherever the tree is walked: a few nested aliases can
                // stand for gigabytes. Their expansion counts against the same limit as the file's size.
                _aliasWeight = _aliasWeight > long.MaxValue - target.Weight ? long.MaxValue : _aliasWeight + target.Weight;
                if (_aliasWeight > _limits.MaxBytes)
                {
                    throw new YamlLimitException(alias.Start, alias.End,
                        $"YAML aliases expand to more than {_limits.MaxBytes} bytes by here (alias *{alias.Value.Value}), the limit (Invalidator:Rules:MaxBytes): repeat less through aliases, or write the entries out");
                }

                return target;
            default:
                throw new YamlException(current?.Start ?? _last, current?.End ?? _last, $"unexpected {current?.GetType().Name ?? "end of input"}");
        }

        if (current is NodeEvent { Anchor.IsEmpty: false } anchored)
        {
            _anchors[anchored.Anchor.Value] = node;
        }

        return node;
    }

    private void SkipDocument()
    {
        do
        {
            Next();
        }
        while (Current is not null and not DocumentEnd);

        Next();
    }
}
