using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace StoreLink.Tests.Fuzz;

/// <summary>
/// Breaks a valid JSON document the ways clients, proxies and attackers do: members of the wrong type, missing and
/// unknown members, edge numbers and strings, ids of other tenants, deep nesting, duplicate members, then damage to
/// the bytes themselves. Everything it does comes from the <see cref="Random"/> it is given, so a seed replays a run.
/// </summary>
public sealed class Mutator(Random random, IReadOnlyList<string> ids, IReadOnlyList<string> memberNames)
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Raw JSON tokens, spliced in as text: most of them are what no serializer would ever write.
    private static readonly string[] EdgeNumbers =
    [
        "0", "-1", "-0", "1.5", "-2.75", "1e400", "-1e400", "1E2", "1e-400", "2147483647", "2147483648", "-2147483649",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "1" + new string('0', 400), "0.000000000000000000000000001", "4.9e-324", "1.7976931348623157e308", "90.0000001", "-180.5", "01", "+1", ".5", "NaN", "Infinity",
    ];

    // JSON string contents (escapes as written on the wire): lone and reversed surrogates, NUL, bidi controls, BOM,
    // zero-width and combining characters, and strings that look like other types, paths, SQL or markup.
    private static readonly string[] EdgeStrings =
    [
        @"\ud800", @"\udfff", @"a\udc00b", @"\ud800\ud800", @"\udfff\ud800", @"\udbff\udfff", @"\u0000", @"abc\u0000def",
        @"\u202eevil\u202c", "مرحبا بالعالم", "שלום", @"\ufeff", @"\u200b\u200d\u2060", "😀👨‍👩‍👧", @"e\u0301\u0301\u0301\u0301",
        "", " ", @"\t\n\r", "../../../../etc/passwd", "' OR 1=1 --", "%00%ff", "<script>alert(1)</script>", @"\\", @"\/",
        "null", "NaN", "1", "-1", "1e400", "true", "{}", "[]", "屏幕碎了", "\u00ff\u0100\uffff", @"\uffff\ufffe", @"\u12", @"\x41", @"\U0001F600",
    ];

    private static readonly string[] OtherValues =
    [
        "null", "true", "false", "[]", "{}", "[null]", "[1,2,3]", "[\"a\"]", "{\"a\":1}", "{\"\":null}", "[[[]]]", "\"\"", "{\"type\":\"ping\"}",
    ];

    private static readonly byte[][] BadUtf8 =
    [
        [0xC0, 0x80], [0xC3, 0x28], [0xFF], [0xFE, 0xFF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98],
        [0xF8, 0x88, 0x80, 0x80, 0x80], [0xEF, 0xBB, 0xBF],
    ];

    private static readonly string[] WholeDocuments =
    [
        "", " ", "\n", "null", "[]", "{}", "\"text\"", "42", "true", "{}{}", "{\"type\":\"ping\"} trailing", "/* comment */{}", "{\"a\":1,}",
        "{'type':'ping'}", "{type:\"ping\"}", "[{}]", "{\"\":\"\"}", "\u0000", "{\"type\":\"ping\",\"rid\":\"a\"", "}{",
    ];

    private readonly List<(string Marker, string Raw)> _raw = [];

    public Random Random => random;

    public T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];

    public bool Chance(double p) => random.NextDouble() < p;

    /// <summary>A document as <see cref="Mutate"/> writes one it leaves unchanged.</summary>
    public static byte[] Serialize(JsonObject document) => Encoding.UTF8.GetBytes(document.ToJsonString(Relaxed));

    /// <summary>
    /// The document broken by one to three structural changes and, sometimes, damage to its bytes; now and then a
    /// whole pathological document instead. <paramref name="changes"/> says what was done, for the failure message.
    /// </summary>
    public byte[] Mutate(JsonObject valid, out string changes)
    {
        _raw.Clear();
        var log = new List<string>();
        if (Chance(0.04))
        {
            var whole = Chance(0.5) ? Pick(WholeDocuments) : Nested(Pick<int>([64, 65, 1000, 20_000]), Chance(0.5));
            changes = "whole document";
            return Encoding.UTF8.GetBytes(whole);
        }
        var root = (JsonObject)valid.DeepClone();
        if (Chance(0.95))
        {
            var count = 1 + random.Next(3);
            for (var i = 0; i < count; i++)
                log.Add(MutateTree(root));
        }
        else
        {
            log.Add("unchanged");
        }
        var text = root.ToJsonString(Relaxed);
        // From the last marker to the first: a later raw value (a wrapped one) may hold an earlier marker.
        for (var i = _raw.Count - 1; i >= 0; i--)
            text = text.Replace($"\"{_raw[i].Marker}\"", _raw[i].Raw, StringComparison.Ordinal);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (Chance(0.2))
        {
            var count = 1 + random.Next(3);
            for (var i = 0; i < count; i++)
                bytes = Damage(bytes, log);
        }
        changes = string.Join("; ", log);
        return bytes;
    }

    private string MutateTree(JsonObject root)
    {
        var slots = new List<Slot>();
        Collect(root, slots);
        var op = random.Next(10);
        if (slots.Count == 0 || op == 0)
        {
            var target = Pick(Objects(root));
            var name = Chance(0.7) ? Pick(memberNames) : Chance(0.5) ? $"unknown_{random.Next(1000)}" : null;
            var value = RandomValue();
            if (name is null)
            {
                var rawName = Quote(Pick(EdgeStrings));
                target[Marker(rawName)] = Marker(value);
                return $"add member {Short(rawName)}";
            }
            if (target.ContainsKey(name))
            {
                // A second member of the same name: parsers disagree on which one wins.
                target[Marker(JsonSerializer.Serialize(name))] = Marker(value);
                return $"duplicate {name}={Short(value)}";
            }
            target[name] = Marker(value);
            return $"add {name}={Short(value)}";
        }
        var slot = Pick(slots);
        switch (op)
        {
            case 1:
                slot.Remove();
                return $"remove {slot.Path}";
            case 2 or 3:
                var retyped = RandomValue();
                slot.Set(Marker(retyped));
                return $"{slot.Path}={Short(retyped)}";
            case 4:
                var id = Pick(ids);
                slot.Set(id);
                return $"{slot.Path}=id {Short(id)}";
            case 5:
                var number = Pick(EdgeNumbers);
                slot.Set(Marker(number));
                return $"{slot.Path}={Short(number)}";
            case 6:
                var text = EdgeString();
                slot.Set(Marker(text));
                return $"{slot.Path}={Short(text)}";
            case 7:
                var nested = Nested(Pick<int>([3, 32, 63, 64, 65, 200, 5000]), Chance(0.5));
                slot.Set(Marker(nested));
                return $"{slot.Path}=nested({nested.Length})";
            case 8:
                // Wrapped: the right value one level too deep.
                var current = slot.Get()?.ToJsonString(Relaxed) ?? "null";
                var wrapped = Chance(0.5) ? $"[{current}]" : $"{{\"value\":{current}}}";
                slot.Set(Marker(wrapped));
                return $"{slot.Path} wrapped";
            default:
                // The right type with the wrong content: strings grow, shrink or change case; numbers move to edges.
                if (slot.Get() is JsonValue v && v.TryGetValue<string>(out var s))
                {
                    var changed = random.Next(4) switch
                    {
                        0 => s + Pick(EdgeStrings),
                        1 => s.Length > 0 ? s[..random.Next(s.Length)] : s,
                        2 => s.ToUpperInvariant(),
                        _ => string.Concat(Enumerable.Repeat(s, 2 + random.Next(50))),
                    };
                    slot.Set(changed);
                    return $"{slot.Path} edited";
                }
                slot.Set(Marker(Pick(EdgeNumbers)));
                return $"{slot.Path}=edge number";
        }
    }

    private string RandomValue() => random.Next(5) switch
    {
        0 => Pick(EdgeNumbers),
        1 => EdgeString(),
        2 => Pick(OtherValues),
        3 => JsonSerializer.Serialize(Pick(ids)),
        _ => random.Next(1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private string EdgeString() => random.Next(8) switch
    {
        0 => Quote(new string('a', Pick<int>([65, 129, 257, 5001, 70_000]))),
        1 => Quote(string.Concat(Enumerable.Repeat("长", Pick<int>([5000, 5001, 9000])))),
        2 => Quote(string.Concat(Enumerable.Repeat(@"\ud83d", 1 + random.Next(20)))),
        _ => Quote(Pick(EdgeStrings)),
    };

    private static string Quote(string content) => $"\"{content}\"";

    private static string Nested(int depth, bool arrays) => arrays
        ? new string('[', depth) + new string(']', depth)
        : string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);

    private string Marker(string raw)
    {
        var marker = $"__raw_{_raw.Count}__";
        _raw.Add((marker, raw));
        return marker;
    }

    private byte[] Damage(byte[] bytes, List<string> log)
    {
        var list = bytes.ToList();
        var at = list.Count == 0 ? 0 : random.Next(list.Count);
        switch (random.Next(8))
        {
            case 0 when list.Count > 0:
                list[at] ^= (byte)(1 << random.Next(8));
                log.Add($"flip bit at {at}");
                break;
            case 1 when list.Count > 0:
                list[at] = (byte)random.Next(256);
                log.Add($"byte at {at}");
                break;
            case 2:
                var inserted = new byte[1 + random.Next(6)];
                random.NextBytes(inserted);
                list.InsertRange(at, inserted);
                log.Add($"insert {inserted.Length} bytes at {at}");
                break;
            case 3 when list.Count > 0:
                var length = Math.Min(1 + random.Next(16), list.Count - at);
                list.RemoveRange(at, length);
                log.Add($"delete {length} at {at}");
                break;
            case 4:
                list.RemoveRange(at, list.Count - at);
                log.Add($"truncate at {at}");
                break;
            case 5 when list.Count > 0:
                var slice = list.GetRange(at, Math.Min(1 + random.Next(64), list.Count - at));
                list.InsertRange(at, slice);
                log.Add($"duplicate {slice.Count} at {at}");
                break;
            case 6:
                list.InsertRange(at, Pick(BadUtf8));
                log.Add($"bad UTF-8 at {at}");
                break;
            default:
                list.Insert(at, 0);
                log.Add($"NUL at {at}");
                break;
        }
        return [.. list];
    }

    private static List<JsonObject> Objects(JsonNode node)
    {
        var found = new List<JsonObject>();
        void Walk(JsonNode? n)
        {
            if (n is JsonObject o)
            {
                found.Add(o);
                foreach (var (_, child) in o)
                    Walk(child);
            }
            else if (n is JsonArray a)
            {
                foreach (var child in a)
                    Walk(child);
            }
        }
        Walk(node);
        return found;
    }

    private static void Collect(JsonNode node, List<Slot> slots, string path = "")
    {
        if (node is JsonObject o)
        {
            foreach (var (name, child) in o.ToList())
            {
                slots.Add(new Slot(o, name, -1, $"{path}.{name}"));
                if (child is not null)
                    Collect(child, slots, $"{path}.{name}");
            }
        }
        else if (node is JsonArray a)
        {
            for (var i = 0; i < a.Count; i++)
            {
                slots.Add(new Slot(a, null, i, $"{path}[{i}]"));
                if (a[i] is { } child)
                    Collect(child, slots, $"{path}[{i}]");
            }
        }
    }

    private static string Short(string text) => text.Length <= 40 ? text : $"{text[..40]}…({text.Length})";

    /// <summary>A place in the tree: a member of an object or an element of an array.</summary>
    private sealed record Slot(JsonNode Parent, string? Name, int Index, string Path)
    {
        public JsonNode? Get() => Parent is JsonObject o ? o[Name!] : ((JsonArray)Parent).Count > Index ? ((JsonArray)Parent)[Index] : null;

        public void Set(JsonNode? value)
        {
            if (Parent is JsonObject o)
                o[Name!] = value;
            else if (((JsonArray)Parent).Count > Index)
                ((JsonArray)Parent)[Index] = value;
        }

        public void Remove()
        {
            if (Parent is JsonObject o)
                o.Remove(Name!);
            else if (((JsonArray)Parent).Count > Index)
                ((JsonArray)Parent).RemoveAt(Index);
        }
    }
}
