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
        new(YamlSourceNodeKind.Scalar, scalar.Start, scalar.End) { Value = scalar.Value, Style = scalar.Style };

    public static YamlSourceNode Collection(YamlSourceNodeKind kind, Mark start, Mark end) => new(kind, start, end);
}

/// <summary>Reads YAML text into <see cref="YamlSourceNode"/>s from YamlDotNet's event stream.</summary>
internal sealed class YamlSourceReader
{
    private readonly Parser _parser;
    private readonly Dictionary<string, YamlSourceNode> _anchors = new(StringComparer.Ordinal);
    private Mark _last = Mark.Empty;

    private YamlSourceReader(string yaml)
    {
        _parser = new Parser(new StringReader(yaml));
    }

    private ParsingEvent? Current => _parser.Current;

    /// <summary>Reads the first document; null when the text holds none (empty or only comments).</summary>
    /// <param name="extraDocument">Start of a second document, if any: a rules file has exactly one.</param>
    /// <exception cref="YamlException">Syntax error, or an alias to an anchor that was never defined.</exception>
    public static YamlSourceNode? Read(string yaml, out Mark? extraDocument)
    {
        var reader = new YamlSourceReader(yaml);
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
                root = reader.ReadNode();
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

    private YamlSourceNode ReadNode()
    {
        var current = Current;
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
                    node.Items.Add(ReadNode());
                }

                Next();
                break;
            case MappingStart:
                node = YamlSourceNode.Collection(YamlSourceNodeKind.Mapping, current.Start, current.End);
                Next();
                while (Current is not MappingEnd)
                {
                    var key = ReadNode();
                    var value = ReadNode();
                    node.Entries.Add(new(key, value));
                }

                Next();
                break;
            case AnchorAlias alias:
                Next();
                return _anchors.TryGetValue(alias.Value.Value, out var target)
                    ? target
                    : throw new AnchorNotFoundException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to no anchor: define &{alias.Value.Value} before using it");
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
