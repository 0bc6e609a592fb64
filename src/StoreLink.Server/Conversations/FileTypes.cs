using System.Globalization;
using System.Text;

namespace StoreLink.Server.Conversations;

/// <summary>
/// What a file is, from its first bytes, whatever its name or declared type says. Only types recognized here are
/// shown inline; everything else, and anything a browser could execute (HTML, SVG, scripts), is served as a download.
/// </summary>
public static class FileTypes
{
    public const string Binary = "application/octet-stream";

    /// <summary>Bytes needed to recognize every type below.</summary>
    public const int HeaderLength = 64;

    private static readonly HashSet<string> Inline =
    [
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/bmp",
        "audio/mpeg", "audio/wav", "audio/ogg", "audio/webm", "audio/mp4", "audio/amr", "audio/aac",
        "video/mp4", "video/webm", "video/quicktime", "video/3gpp", "application/pdf",
    ];

    public static bool IsInline(string contentType) => Inline.Contains(contentType);

    /// <summary>The content type the bytes prove, or null when they prove nothing (plain text, unknown binary).</summary>
    public static string? Sniff(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
            return "image/jpeg";
        if (head.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            return "image/png";
        if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
            return "image/gif";
        if (head.StartsWith("BM"u8) && head.Length > 14)
            return "image/bmp";
        if (head.StartsWith("%PDF-"u8))
            return "application/pdf";
        if (head.StartsWith("#!AMR"u8))
            return "audio/amr";
        if (head.StartsWith("OggS"u8))
            return "audio/ogg";
        if (head.StartsWith("ID3"u8) || (head.Length > 1 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0 && (head[1] & 0x06) != 0))
            return "audio/mpeg";
        if (head.Length > 1 && head[0] == 0xFF && (head[1] & 0xF6) == 0xF0)
            return "audio/aac";
        if (head.Length >= 12 && head.StartsWith("RIFF"u8))
        {
            var format = head[8..12];
            if (format.SequenceEqual("WEBP"u8))
                return "image/webp";
            if (format.SequenceEqual("WAVE"u8))
                return "audio/wav";
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0x1A, 0x45, 0xDF, 0xA3]))
            return "video/webm";
        if (head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8))
        {
            var brand = head[8..12];
            if (brand.SequenceEqual("heic"u8) || brand.SequenceEqual("heix"u8) || brand.SequenceEqual("mif1"u8))
                return "image/heic";
            if (brand.SequenceEqual("M4A "u8))
                return "audio/mp4";
            if (brand.SequenceEqual("qt  "u8))
                return "video/quicktime";
            if (brand[..3].SequenceEqual("3gp"u8))
                return "video/3gpp";
            return "video/mp4";
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0x50, 0x4B, 0x03, 0x04]))
            return "application/zip";
        return null;
    }

    /// <summary>
    /// The type stored for an upload: the sniffed one when the bytes prove one, and it must agree with the declared
    /// family (image/audio/video); otherwise a declared type is kept only if it is harmless, else binary.
    /// Returns null when the declared type contradicts the bytes.
    /// </summary>
    public static string? Decide(string? declared, string? sniffed)
    {
        declared = declared?.Split(';')[0].Trim().ToLowerInvariant();
        if (sniffed is not null)
        {
            if (declared is null or Binary || declared == sniffed)
                return sniffed;
            var declaredFamily = declared.Split('/')[0];
            var sniffedFamily = sniffed.Split('/')[0];
            // A webm or mp4 container holds audio as well as video; Office files are zip containers.
            if (declaredFamily is "audio" or "video" && sniffedFamily is "audio" or "video")
                return declared;
            if (sniffed == "application/zip" && declared.StartsWith("application/", StringComparison.Ordinal))
                return declared;
            return declaredFamily == sniffedFamily ? sniffed : null;
        }
        if (declared is null)
            return Binary;
        // Unproven bytes may not claim to be media; text types are kept (served as downloads).
        if (declared.StartsWith("image/", StringComparison.Ordinal) || declared.StartsWith("audio/", StringComparison.Ordinal) ||
            declared.StartsWith("video/", StringComparison.Ordinal) || declared == "application/pdf")
            return null;
        return declared.Length <= 100 && declared.Contains('/') ? declared : Binary;
    }

    /// <summary>
    /// The name an upload is kept and shown under: its last path segment, without control and invisible format
    /// characters — a right-to-left override makes <c>\u202egnp.exe</c> display as <c>exe.png</c>; zero-width spaces
    /// and isolates hide or reorder text too. A zero-width joiner inside an emoji (👨‍👩‍👧) is part of it and stays.
    /// </summary>
    public static string CleanName(string name)
    {
        var runes = name.Replace('\\', '/').EnumerateRunes().ToArray();
        var kept = new StringBuilder(name.Length);
        for (var i = 0; i < runes.Length; i++)
        {
            var invisible = Rune.GetUnicodeCategory(runes[i]) switch
            {
                UnicodeCategory.Control or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => true,
                UnicodeCategory.Format => !(runes[i].Value == 0x200D && i > 0 && i + 1 < runes.Length && IsEmoji(runes[i - 1]) && IsEmoji(runes[i + 1])),
                _ => false,
            };
            if (!invisible)
                kept.Append(runes[i].ToString());
        }
        // Separators count after the invisible characters are gone, so none can hide a directory in the name.
        var clean = Path.GetFileName(kept.ToString()).Trim();
        if (clean.Length > 200)
            clean = clean[..(char.IsHighSurrogate(clean[199]) ? 199 : 200)];
        return clean.Length == 0 ? "file" : clean;
    }

    private static bool IsEmoji(Rune rune) => rune.Value is >= 0x1F000 or (>= 0x2600 and <= 0x27BF) or 0xFE0F;
}
