using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// A workflow template: data, not code. States with a staff label and a customer-facing label per language, the
/// transitions staff may make and which roles may make them, the actions a customer may take in a state, whether
/// entering a state is urgent (cards go out during quiet hours too), and categories with their assignment rule.
/// </summary>
public sealed record TemplateDefinition(
    string? Name, string? Kind, string? Initial, List<CategoryDef>? Categories, List<StateDef>? States, List<TransitionDef>? Transitions)
{
    public StateDef? State(string key) => States?.FirstOrDefault(s => s.Key == key);

    /// <summary>The roles that may move an item from <paramref name="from"/> to <paramref name="to"/>; none if no such transition.</summary>
    public IReadOnlyList<string> RolesFor(string from, string to) =>
        (Transitions ?? []).Where(t => (t.From == from || t.From == "*") && t.To == to && from != to).SelectMany(t => t.Roles ?? []).Distinct().ToList();
}

/// <summary>A category; <c>assign_staff_id</c> (a person) wins over <c>assign_role</c> (the least busy of that role in the store).</summary>
public sealed record CategoryDef(string? Key, string? Label, List<string>? Keywords, string? AssignRole, string? AssignStaffId);

/// <summary>
/// A state. <c>on_request_approved</c> / <c>on_request_declined</c>: where the item moves when the customer decides a
/// request (a quote) in this state. <c>reminder</c>: a message to the customer while the item stays here.
/// </summary>
public sealed record StateDef(
    string? Key, string? Label, Dictionary<string, string>? CustomerLabel, bool Terminal, bool Urgent, Dictionary<string, string>? NextStep,
    List<ActionDef>? Actions, string? OnRequestApproved, string? OnRequestDeclined, ReminderDef? Reminder)
{
    public string CustomerText(string language = Texts.DefaultLanguage) => Texts.Pick(CustomerLabel, language) ?? Label ?? Key!;

    public string? NextStepText(string language) => Texts.Pick(NextStep, language);
}

/// <summary>
/// Something the customer may do from the card. <c>to</c>: the state it moves the item to (none: recorded only).
/// <c>needs</c>: <c>note</c> (rework: a note, photos optional) or <c>address</c> (the new delivery address).
/// </summary>
public sealed record ActionDef(string? Key, Dictionary<string, string>? Label, string? To, string? Needs, bool Urgent)
{
    public string Text(string language) => Texts.Pick(Label, language) ?? Key!;
}

public sealed record TransitionDef(string? From, string? To, List<string>? Roles);

public sealed record ReminderDef(int AfterMinutes, Dictionary<string, string>? Text)
{
    public string? TextIn(string language) => Texts.Pick(Text, language);
}

public sealed record TemplateDto(
    string Id, string Kind, string Name, string? Preset, int Version, bool IsDefault, DateTimeOffset UpdatedAt, TemplateDefinition? Definition = null);

/// <summary><c>POST /v1/workflow-templates</c>: a copy of a preset or of another template of the organization.</summary>
public sealed record CopyTemplateRequest(string? Preset, string? FromTemplateId, string? Name, bool? IsDefault);

/// <summary><c>PUT /v1/workflow-templates/{id}</c>: a new version of the definition.</summary>
public sealed record UpdateTemplateRequest(TemplateDefinition? Definition, bool? IsDefault);

public sealed class TemplateRow
{
    public const string Columns = "id, org_id, kind, name, preset, current_version, is_default, created_at, updated_at";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Preset { get; set; }
    public long CurrentVersion { get; set; }
    public long IsDefault { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }

    public TemplateDto ToDto(TemplateDefinition? definition = null, long? version = null) =>
        new(Id, Kind, Name, Preset, (int)(version ?? CurrentVersion), IsDefault != 0, DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt), definition);
}

/// <summary>The three presets that ship with StoreLink, and the organization's own templates (copies of them, changed at will).</summary>
public sealed class Templates(Db db, Access access, TimeProvider clock)
{
    public static readonly string[] PresetKeys = ["electronics_repair", "bag_order", "shoe_care"];
    public static readonly string[] Kinds = ["ticket", "order", "care_job"];
    public static readonly string[] StaffRoles = [Roles.Agent, Roles.Technician, Roles.Manager];

    private static readonly Lazy<IReadOnlyDictionary<string, TemplateDefinition>> PresetDefinitions = new(() =>
        PresetKeys.ToDictionary(k => k, k =>
        {
            using var stream = typeof(Templates).Assembly.GetManifestResourceStream($"presets/{k}.json")!;
            return JsonSerializer.Deserialize<TemplateDefinition>(stream, ProtocolJson.Options)!;
        }));

    public static IReadOnlyDictionary<string, TemplateDefinition> Presets => PresetDefinitions.Value;

    public async Task<IReadOnlyList<TemplateDto>> ListAsync(CurrentUser user, CancellationToken ct)
    {
        Access.RequireStaff(user);
        await EnsurePresetsAsync(user.OrgId, ct);
        return (await db.QueryAsync<TemplateRow>($"SELECT {TemplateRow.Columns} FROM workflow_templates WHERE org_id = @orgId ORDER BY kind, created_at, id",
            new { orgId = user.OrgId }, ct)).Select(t => t.ToDto()).ToList();
    }

    /// <summary>One template at its current version, or at an earlier one.</summary>
    public async Task<TemplateDto> GetAsync(CurrentUser user, string templateId, int? version, CancellationToken ct)
    {
        var row = await RowAsync(user, templateId, ct);
        var definition = await DefinitionAsync(row.Id, version ?? (int)row.CurrentVersion, ct) ?? throw ApiException.NotFound("That version of the template");
        return row.ToDto(definition, version ?? row.CurrentVersion);
    }

    public async Task<TemplateDto> CopyAsync(CurrentUser user, CopyTemplateRequest body, CancellationToken ct)
    {
        Access.RequireOrgAdmin(user);
        // A copy as the organization's first template must not stand in for the presets it would otherwise get.
        await EnsurePresetsAsync(user.OrgId, ct);
        TemplateDefinition source;
        if (body.Preset is not null == (body.FromTemplateId is not null))
            throw ApiException.Invalid("Give preset (one of " + string.Join(", ", PresetKeys) + ") or from_template_id.");
        if (body.Preset is not null)
            source = Presets.GetValueOrDefault(body.Preset) ?? throw ApiException.NotFound("The preset");
        else
            source = (await GetAsync(user, body.FromTemplateId!, null, ct)).Definition!;
        var name = new Validation().MaxLength("name", body.Name, 100) ?? source.Name!;
        var definition = source with { Name = name };
        return await InsertAsync(user.OrgId, definition, body.Preset, body.IsDefault ?? false, user.Id, ct);
    }

    /// <summary>Writes a new version; work items already in flight keep theirs until migrated explicitly.</summary>
    public async Task<TemplateDto> UpdateAsync(CurrentUser user, string templateId, UpdateTemplateRequest body, CancellationToken ct)
    {
        Access.RequireOrgAdmin(user);
        var row = await RowAsync(user, templateId, ct);
        if (body.Definition is null && body.IsDefault is null)
            throw ApiException.Invalid("Give definition (a new version) or is_default.");
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var definition = body.Definition;
        if (definition is not null)
        {
            Validate(definition);
            if (definition.Kind != row.Kind)
                throw ApiException.Invalid($"The template is for {row.Kind}; its kind does not change.");
        }
        await db.InTransactionAsync(async (c, t) =>
        {
            if (definition is not null)
            {
                // Versions are numbered in the row's own update, so two concurrent edits get two versions.
                var version = await c.ExecuteScalarAsync<long>(
                    "UPDATE workflow_templates SET current_version = current_version + 1, name = @name, updated_at = @now WHERE id = @id RETURNING current_version",
                    new { id = row.Id, name = definition.Name, now }, t);
                await c.ExecuteAsync("""
                    INSERT INTO workflow_template_versions (template_id, version, definition, created_by, created_at) VALUES (@id, @version, @definition, @by, @now)
                    """, new { id = row.Id, version, definition = JsonSerializer.Serialize(definition, ProtocolJson.Options), by = user.Id, now }, t);
            }
            if (body.IsDefault == true)
                await MakeDefaultAsync(c, t, row.OrgId, row.Kind, row.Id);
        }, ct);
        return await GetAsync(user, row.Id, null, ct);
    }

    /// <summary>An organization starts with a copy of every preset, the default of its kind.</summary>
    public async Task EnsurePresetsAsync(string orgId, CancellationToken ct)
    {
        if (await db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM workflow_templates WHERE org_id = @orgId", new { orgId }, ct) > 0)
            return;
        await db.InTransactionAsync(async (c, t) =>
        {
            // The organization's row serializes two first uses, so the presets are installed once.
            await c.ExecuteAsync("UPDATE organizations SET name = name WHERE id = @orgId", new { orgId }, t);
            if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM workflow_templates WHERE org_id = @orgId", new { orgId }, t) > 0)
                return;
            foreach (var (key, definition) in Presets)
                await InsertAsync(c, t, orgId, definition, key, isDefault: true, createdBy: null);
        }, ct);
    }

    /// <summary>The template a new work item of <paramref name="kind"/> uses unless one is named.</summary>
    public async Task<TemplateRow> DefaultAsync(string orgId, string kind, CancellationToken ct)
    {
        await EnsurePresetsAsync(orgId, ct);
        return await db.QuerySingleOrDefaultAsync<TemplateRow>(
            $"SELECT {TemplateRow.Columns} FROM workflow_templates WHERE org_id = @orgId AND kind = @kind ORDER BY is_default DESC, created_at, id LIMIT 1",
            new { orgId, kind }, ct) ?? throw ApiException.Conflict($"The organization has no workflow template for {kind}; copy a preset first.");
    }

    public Task<TemplateRow> RowAsync(CurrentUser user, string templateId, CancellationToken ct) => access.WorkflowTemplateAsync(user, templateId, ct);

    /// <summary>A version's definition; inside a transaction pass it as <paramref name="tx"/> so the read goes through it.</summary>
    public async Task<TemplateDefinition?> DefinitionAsync(string templateId, int version, CancellationToken ct, (DbConnection Connection, DbTransaction Transaction)? tx = null)
    {
        const string sql = "SELECT definition FROM workflow_template_versions WHERE template_id = @templateId AND version = @version";
        var json = tx is (var c, var t)
            ? await c.QuerySingleOrDefaultAsync<string>(sql, new { templateId, version }, t)
            : await db.QuerySingleOrDefaultAsync<string>(sql, new { templateId, version }, ct);
        return json is null ? null : JsonSerializer.Deserialize<TemplateDefinition>(json, ProtocolJson.Options);
    }

    private async Task<TemplateDto> InsertAsync(string orgId, TemplateDefinition definition, string? preset, bool isDefault, string? createdBy, CancellationToken ct)
    {
        Validate(definition);
        return await db.InTransactionAsync((c, t) => InsertAsync(c, t, orgId, definition, preset, isDefault, createdBy), ct);
    }

    private async Task<TemplateDto> InsertAsync(
        DbConnection c, DbTransaction t, string orgId, TemplateDefinition definition, string? preset, bool isDefault, string? createdBy)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new TemplateRow
        {
            Id = Ids.New("wft", clock), OrgId = orgId, Kind = definition.Kind!, Name = definition.Name!, Preset = preset, CurrentVersion = 1,
            IsDefault = isDefault ? 1 : 0, CreatedAt = now, UpdatedAt = now,
        };
        await c.ExecuteAsync($"""
            INSERT INTO workflow_templates ({TemplateRow.Columns}) VALUES (@Id, @OrgId, @Kind, @Name, @Preset, @CurrentVersion, 0, @CreatedAt, @UpdatedAt)
            """, row, t);
        await c.ExecuteAsync("""
            INSERT INTO workflow_template_versions (template_id, version, definition, created_by, created_at) VALUES (@id, 1, @definition, @createdBy, @now)
            """, new { id = row.Id, definition = JsonSerializer.Serialize(definition, ProtocolJson.Options), createdBy, now }, t);
        if (isDefault)
            await MakeDefaultAsync(c, t, orgId, row.Kind, row.Id);
        return row.ToDto(definition);
    }

    private static async Task MakeDefaultAsync(DbConnection c, DbTransaction t, string orgId, string kind, string id) =>
        await c.ExecuteAsync("UPDATE workflow_templates SET is_default = CASE WHEN id = @id THEN 1 ELSE 0 END WHERE org_id = @orgId AND kind = @kind",
            new { id, orgId, kind }, t);

    /// <summary>Checks a definition as a whole; every problem is reported under its path, e.g. <c>states[2].actions[0].to</c>.</summary>
    public static void Validate(TemplateDefinition d)
    {
        var errors = new Validation();
        errors.Required("name", d.Name, 100);
        if (!Kinds.Contains(d.Kind))
            errors.Add("kind", "One of ticket, order, care_job.");
        var states = d.States ?? [];
        var keys = states.Select(s => s.Key).ToList();
        if (states.Count is 0 or > 50)
            errors.Add("states", "1 to 50 states.");
        if (keys.Distinct().Count() != keys.Count)
            errors.Add("states", "State keys are unique.");
        if (!states.Any(s => s.Terminal))
            errors.Add("states", "At least one state is terminal (where an item ends).");
        if (d.Initial is null || !keys.Contains(d.Initial))
            errors.Add("initial", "The key of one of the states.");
        for (var i = 0; i < states.Count; i++)
        {
            var s = states[i];
            if (!IsKey(s.Key))
                errors.Add($"states[{i}].key", "Required: lowercase letters, digits and _ (at most 40).");
            errors.Required($"states[{i}].label", s.Label, 40);
            if (string.IsNullOrWhiteSpace(s.CustomerLabel?.GetValueOrDefault("zh-CN")))
                errors.Add($"states[{i}].customer_label", "Required: at least {\"zh-CN\": \"…\"}.");
            foreach (var (field, target) in new[] { ("on_request_approved", s.OnRequestApproved), ("on_request_declined", s.OnRequestDeclined) })
                if (target is not null && !keys.Contains(target))
                    errors.Add($"states[{i}].{field}", "The key of one of the states.");
            if (s.Reminder is { } r && (r.AfterMinutes is < 1 or > 60 * 24 * 30 || string.IsNullOrWhiteSpace(r.Text?.GetValueOrDefault("zh-CN"))))
                errors.Add($"states[{i}].reminder", "after_minutes 1 to 43200 and a text with at least zh-CN.");
            var actions = s.Actions ?? [];
            for (var j = 0; j < actions.Count; j++)
            {
                var a = actions[j];
                if (!IsKey(a.Key) || a.Key is "approve" or "decline")
                    errors.Add($"states[{i}].actions[{j}].key", "Required: lowercase letters, digits and _; approve and decline are kept for requests.");
                if (string.IsNullOrWhiteSpace(a.Label?.GetValueOrDefault("zh-CN")))
                    errors.Add($"states[{i}].actions[{j}].label", "Required: at least {\"zh-CN\": \"…\"}.");
                if (a.To is not null && !keys.Contains(a.To))
                    errors.Add($"states[{i}].actions[{j}].to", "The key of one of the states.");
                if (a.Needs is not (null or "note" or "address"))
                    errors.Add($"states[{i}].actions[{j}].needs", "note or address.");
            }
        }
        var transitions = d.Transitions ?? [];
        for (var i = 0; i < transitions.Count; i++)
        {
            var t = transitions[i];
            if (t.From != "*" && !keys.Contains(t.From))
                errors.Add($"transitions[{i}].from", "The key of a state, or *.");
            if (t.To is null || !keys.Contains(t.To))
                errors.Add($"transitions[{i}].to", "The key of a state.");
            if (t.Roles is not { Count: > 0 } || t.Roles.Any(r => !StaffRoles.Contains(r)))
                errors.Add($"transitions[{i}].roles", "One or more of agent, technician, manager (org admins may make every transition).");
        }
        var categories = d.Categories ?? [];
        if (categories.Select(c => c.Key).Distinct().Count() != categories.Count)
            errors.Add("categories", "Category keys are unique.");
        for (var i = 0; i < categories.Count; i++)
        {
            var c = categories[i];
            if (!IsKey(c.Key))
                errors.Add($"categories[{i}].key", "Required: lowercase letters, digits and _.");
            errors.Required($"categories[{i}].label", c.Label, 40);
            if (c.AssignRole is not null && !StaffRoles.Contains(c.AssignRole))
                errors.Add($"categories[{i}].assign_role", "agent, technician or manager.");
        }
        errors.ThrowIfAny();
    }

    private static bool IsKey(string? key) =>
        key is { Length: > 0 and <= 40 } && key.All(ch => ch is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_');
}
