package org.guardianportal.sis;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Example SIS consumer of the guardian portal's link events.
 *
 * <p>Reads LinkApproved, LinkDenied, LinkRevoked, LinkWithdrawn, LinkExpired and
 * GuardianContactUpdated with the CloudEvents Kafka binding (binary mode: the ce_* headers),
 * skips an event whose ce_id it has already applied (delivery is at least once), applies the
 * event to the SIS (access, and the guardian's contact block: the one in LinkApproved,
 * replaced by each later GuardianContactUpdated), and commits the record's offset only after
 * that. Prints one JSON line per record to stdout (the same lines as the Python example).
 *
 * <p>Environment: KAFKA_BOOTSTRAP_SERVERS (host:9094), KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE
 * (the cluster CA, PEM), SIS_GROUP (must start with "sis-"), SIS_APPLIED_FILE (the applied
 * ce_ids; a real SIS keeps them in its database, in the same transaction as the change).
 * For a local plaintext broker: KAFKA_SECURITY_PROTOCOL=PLAINTEXT. Optional:
 * KAFKA_TOPIC_PREFIX, SIS_EXIT_AFTER_RECORDS and SIS_EXIT_WHEN_IDLE_MS (stop after that many
 * records / that long without one).
 */
public final class SisConsumer {
  static final List<String> TOPICS =
      List.of(
          "LinkApproved",
          "LinkDenied",
          "LinkRevoked",
          "LinkWithdrawn",
          "LinkExpired",
          "GuardianContactUpdated");

  private static final ObjectMapper JSON = new ObjectMapper();

  static final Set<String> ENDING =
      Set.of("LinkRevoked", "LinkDenied", "LinkWithdrawn", "LinkExpired");

  private final Set<String> applied = new HashSet<>();
  private final Set<String> endedLinks = new HashSet<>();

  /** The contact block held per link, with the ce_time of the event that carried it. */
  record HeldContact(Instant at, ObjectNode contact) {}

  private final Map<String, HeldContact> contacts = new HashMap<>();
  private final Path appliedFile;

  /**
   * Reads what was applied before: lines "<ce_id>", "ended <link_id>" and "contact <link_id>
   * <ce_time> <contact JSON>". A real SIS keeps all of it in its database, in the same
   * transaction as the change the event causes.
   */
  SisConsumer(Path appliedFile) throws IOException {
    this.appliedFile = appliedFile;
    if (Files.exists(appliedFile)) {
      for (String line : Files.readAllLines(appliedFile, StandardCharsets.UTF_8)) {
        if (line.startsWith("ended ")) {
          endedLinks.add(line.substring(6));
        } else if (line.startsWith("contact ")) {
          String[] parts = line.split(" ", 4);
          contacts.put(
              parts[1],
              new HeldContact(Instant.parse(parts[2]), (ObjectNode) JSON.readTree(parts[3])));
        } else {
          applied.add(line);
        }
      }
    }
  }

  static Properties config(Map<String, String> env) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, env.get("KAFKA_BOOTSTRAP_SERVERS"));
    props.put(ConsumerConfig.GROUP_ID_CONFIG, env.getOrDefault("SIS_GROUP", "sis-example"));
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false"); // commit after applying
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"); // first start: 30 days
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, CloudEventDeserializer.class.getName());
    String protocol = env.getOrDefault("KAFKA_SECURITY_PROTOCOL", "SASL_SSL");
    props.put("security.protocol", protocol);
    if (protocol.equals("SASL_SSL")) {
      props.put("sasl.mechanism", "SCRAM-SHA-512");
      props.put(
          "sasl.jaas.config",
          "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
              + env.getOrDefault("KAFKA_SASL_USERNAME", "sis")
              + "\" password=\""
              + env.get("KAFKA_SASL_PASSWORD")
              + "\";");
      props.put("ssl.truststore.type", "PEM");
      props.put("ssl.truststore.location", env.get("KAFKA_SSL_CAFILE"));
    }
    return props;
  }

  /**
   * What the district's automated calls and texts need from the contact block: the emergency
   * number, the numbers the guardian agreed to receive texts on, the postal address and the
   * secondary email (missing fields of older records: unknown, so null). Dial the E.164 form;
   * fall back to the digits as typed when it has none.
   */
  static ObjectNode contactForSis(JsonNode guardian) {
    ObjectNode contact = JSON.createObjectNode();
    JsonNode emergency = null;
    ArrayNode sms = JSON.createArrayNode();
    for (JsonNode phone : guardian.path("phones")) {
      if (emergency == null
          && !guardian.path("emergency_phone").isMissingNode()
          && phone.path("kind").asText().equals(guardian.path("emergency_phone").asText())) {
        emergency = phone;
      }
      if (phone.path("sms").asBoolean(false) && phone.hasNonNull("e164")) {
        sms.add(phone.get("e164").asText());
      }
    }
    if (emergency == null) {
      contact.putNull("emergency");
    } else {
      contact.put(
          "emergency",
          emergency.hasNonNull("e164")
              ? emergency.get("e164").asText()
              : emergency.path("number").asText());
    }
    contact.set("sms", sms);
    JsonNode address = guardian.path("address");
    if (!address.isObject()) {
      contact.putNull("address");
    } else {
      List<String> parts = new ArrayList<>();
      parts.add(address.path("street").asText());
      if (address.hasNonNull("apt") && !address.get("apt").asText().isEmpty()) {
        parts.add(address.get("apt").asText());
      }
      parts.add(address.path("city").asText());
      parts.add(address.path("state").asText() + " " + address.path("zip").asText());
      contact.put("address", String.join(", ", parts));
    }
    if (guardian.hasNonNull("secondary_email")) {
      contact.put("secondary_email", guardian.get("secondary_email").asText());
    } else {
      contact.putNull("secondary_email");
    }
    return contact;
  }

  /**
   * Grant or remove the guardian's access, and keep the guardian's contact block, in the SIS
   * (replace with yours); then remember the event. Each event type is its own topic, so events
   * of one link on different topics can arrive in any order: an ended link stays ended (a
   * later-read approval or contact change of it is ignored), and a contact block replaces the
   * one held for the link only when its event is newer (ce_time), so an approval read after a
   * contact change of its link keeps the newer block.
   */
  ObjectNode apply(CloudEvent event, String key) throws IOException {
    JsonNode data = JSON.readTree(event.getData().toBytes());
    String linkId = data.path("link_id").asText();
    String type = event.getType();
    OffsetDateTime time = event.getTime();
    ObjectNode out = JSON.createObjectNode();
    out.put("ce_id", event.getId());
    out.put("ce_type", type);
    out.put("key", key);
    out.put("link_id", linkId);
    HeldContact held = contacts.get(linkId);
    boolean newer = held == null || time.toInstant().isAfter(held.at());
    ObjectNode contact = data.has("guardian") ? contactForSis(data.get("guardian")) : null;
    if (!ENDING.contains(type) && endedLinks.contains(linkId)) {
      out.put("action", "ignore_ended");
      remember(event.getId(), null, null, null);
      return out;
    }
    switch (type) {
      case "LinkApproved" -> {
        out.put("action", "grant");
        out.put("guardian_email", data.path("guardian").path("email").asText());
        out.put("student_id", data.path("student").path("student_id").asText());
        out.put("school_id", data.path("student").path("school_id").asText());
        out.set("contact", newer ? contact : held.contact());
        remember(event.getId(), null, newer ? linkId : null, newer ? contact : null, time);
      }
      case "GuardianContactUpdated" -> {
        if (newer) {
          // Replace the whole block (never merge field by field).
          out.put("action", "update_contact");
          out.set("contact", contact);
          JsonNode changed = data.path("changed");
          out.set("changed", changed.isArray() ? changed : JSON.createArrayNode());
          remember(event.getId(), null, linkId, contact, time);
        } else {
          out.put("action", "ignore_older_contact");
          remember(event.getId(), null, null, null);
        }
      }
      case "LinkRevoked" -> {
        out.put("action", "remove");
        out.put("student_id", data.path("student_id").asText());
        remember(event.getId(), linkId, null, null);
      }
      default -> { // LinkDenied, LinkWithdrawn, LinkExpired: the request ends without access
        out.put("action", "close");
        remember(event.getId(), linkId, null, null);
      }
    }
    return out;
  }

  void remember(String ceId, String endedLink, String contactLink, ObjectNode contact)
      throws IOException {
    remember(ceId, endedLink, contactLink, contact, null);
  }

  /** Remember an applied event: its ce_id, the link it ended, the contact it made current. */
  void remember(
      String ceId, String endedLink, String contactLink, ObjectNode contact, OffsetDateTime at)
      throws IOException {
    applied.add(ceId);
    String lines = ceId + "\n";
    if (endedLink != null) {
      endedLinks.add(endedLink);
      lines += "ended " + endedLink + "\n";
    }
    if (contactLink != null) {
      contacts.put(contactLink, new HeldContact(at.toInstant(), contact));
      lines +=
          "contact "
              + contactLink
              + " "
              + at.toInstant()
              + " "
              + JSON.writeValueAsString(contact)
              + "\n";
    }
    Files.writeString(
        appliedFile,
        lines,
        StandardCharsets.UTF_8,
        StandardOpenOption.CREATE,
        StandardOpenOption.APPEND,
        StandardOpenOption.SYNC);
  }

  void run(Map<String, String> env) throws IOException {
    String prefix = env.getOrDefault("KAFKA_TOPIC_PREFIX", "");
    long idleExitMs = Long.parseLong(env.getOrDefault("SIS_EXIT_WHEN_IDLE_MS", "0"));
    long exitAfter = Long.parseLong(env.getOrDefault("SIS_EXIT_AFTER_RECORDS", "0"));
    long handled = 0;
    try (KafkaConsumer<String, CloudEvent> consumer = new KafkaConsumer<>(config(env))) {
      consumer.subscribe(TOPICS.stream().map(t -> prefix + t).toList());
      long lastRecord = System.currentTimeMillis();
      while ((idleExitMs <= 0 || System.currentTimeMillis() - lastRecord < idleExitMs)
          && (exitAfter <= 0 || handled < exitAfter)) {
        ConsumerRecords<String, CloudEvent> records;
        try {
          records = consumer.poll(Duration.ofMillis(500));
        } catch (RecordDeserializationException e) {
          // Not a CloudEvent: report it and move past it (the portal never sends one).
          ObjectNode out = JSON.createObjectNode();
          out.put("action", "invalid");
          out.put("offset", e.offset());
          System.out.println(out);
          consumer.seek(e.topicPartition(), e.offset() + 1);
          continue;
        }
        for (ConsumerRecord<String, CloudEvent> record : records) {
          lastRecord = System.currentTimeMillis();
          CloudEvent event = record.value();
          ObjectNode out;
          if (applied.contains(event.getId())) {
            out = JSON.createObjectNode();
            out.put("action", "duplicate");
            out.put("ce_id", event.getId());
          } else {
            out = apply(event, record.key());
          }
          System.out.println(out);
          System.out.flush();
          // Commit this record only now that it is applied.
          consumer.commitSync(
              Map.of(
                  new TopicPartition(record.topic(), record.partition()),
                  new OffsetAndMetadata(record.offset() + 1)));
          handled++;
        }
      }
    }
  }

  public static void main(String[] args) throws IOException {
    Map<String, String> env = System.getenv();
    Path appliedFile = Path.of(env.getOrDefault("SIS_APPLIED_FILE", "sis-applied-ce-ids.txt"));
    new SisConsumer(appliedFile).run(env);
  }
}
