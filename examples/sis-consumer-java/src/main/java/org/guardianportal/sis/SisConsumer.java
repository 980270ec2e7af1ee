package org.guardianportal.sis;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
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
 * <p>Reads LinkApproved, LinkDenied, LinkRevoked, LinkWithdrawn and LinkExpired with the
 * CloudEvents Kafka binding (binary mode: the ce_* headers), skips an event whose ce_id it
 * has already applied (delivery is at least once), applies the event to the SIS, and commits
 * the record's offset only after that. Prints one JSON line per record to stdout.
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
      List.of("LinkApproved", "LinkDenied", "LinkRevoked", "LinkWithdrawn", "LinkExpired");

  private static final ObjectMapper JSON = new ObjectMapper();

  static final Set<String> ENDING =
      Set.of("LinkRevoked", "LinkDenied", "LinkWithdrawn", "LinkExpired");

  private final Set<String> applied = new HashSet<>();
  private final Set<String> endedLinks = new HashSet<>();
  private final Path appliedFile;

  SisConsumer(Path appliedFile) throws IOException {
    this.appliedFile = appliedFile;
    if (Files.exists(appliedFile)) {
      for (String line : Files.readAllLines(appliedFile, StandardCharsets.UTF_8)) {
        if (line.startsWith("ended ")) {
          endedLinks.add(line.substring(6));
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
   * Grant or remove the guardian's access in the SIS (replace with yours). Each event type is
   * its own topic, so events of one link on different topics can arrive in any order (a
   * revocation before its approval): an ended link stays ended.
   */
  ObjectNode apply(CloudEvent event, String key) throws IOException {
    JsonNode data = JSON.readTree(event.getData().toBytes());
    String linkId = data.path("link_id").asText();
    ObjectNode out = JSON.createObjectNode();
    out.put("ce_id", event.getId());
    out.put("ce_type", event.getType());
    out.put("key", key);
    out.put("link_id", linkId);
    if (!ENDING.contains(event.getType()) && endedLinks.contains(linkId)) {
      out.put("action", "ignore_ended");
      return out;
    }
    switch (event.getType()) {
      case "LinkApproved" -> {
        out.put("action", "grant");
        out.put("guardian_email", data.path("guardian").path("email").asText());
        out.put("student_id", data.path("student").path("student_id").asText());
        out.put("school_id", data.path("student").path("school_id").asText());
      }
      case "LinkRevoked" -> {
        out.put("action", "remove");
        out.put("student_id", data.path("student_id").asText());
      }
      default -> out.put("action", "close"); // LinkDenied, LinkWithdrawn, LinkExpired
    }
    return out;
  }

  void remember(String ceId, String endedLink) throws IOException {
    applied.add(ceId);
    String lines = ceId + "\n";
    if (endedLink != null) {
      endedLinks.add(endedLink);
      lines += "ended " + endedLink + "\n";
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
            remember(
                event.getId(),
                ENDING.contains(event.getType()) ? out.path("link_id").asText() : null);
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
